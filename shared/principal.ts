// Who is asking: the identity a verified token carries, used by the trip rules and the stores alike.
export const ROLES = ["rider", "driver"] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  id: string;
  role: Role;
}
