import { loadConfig } from "../../shared/config";
import { signToken } from "../../shared/tokens";
import type { Role } from "../../shared/principal";

const { jwtSecret } = loadConfig();

export function token(role: Role, id: string, ttlSeconds = 600): string {
  return signToken(jwtSecret, { id, role }, ttlSeconds);
}

export function bearer(role: Role, id: string): Record<string, string> {
  return { authorization: `Bearer ${token(role, id)}` };
}
