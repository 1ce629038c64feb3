import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { inProcess } from "../../tests/support/in-process";
import { signToken } from "../tokens";
import { requireRole, type AuthEnv } from "./auth";

const SECRET = "unit-test-secret";
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

describe("requireRole", () => {
  const app = new Hono<AuthEnv>()
    .get("/riders-only", requireRole(SECRET, "rider"), (c) => c.json(c.get("principal")))
    .get("/anyone", requireRole(SECRET, "rider", "driver"), (c) => c.json(c.get("principal")));
  const fn = inProcess(app);
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const valid = (role: "rider" | "driver") => signToken(SECRET, { id: `${role}-1`, role });

  async function expectRefused(res: Response, status: number, code: string): Promise<void> {
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ error: { code, message: expect.stringMatching(/\S/), details: [] } });
  }

  it("passes the principal on to the handler", async () => {
    const res = await fn.request("/riders-only", { headers: as(valid("rider")) });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: "rider-1", role: "rider" });
  });

  it("lets in every listed role", async () => {
    expect(await (await fn.request("/anyone", { headers: as(valid("driver")) })).json()).toEqual({ id: "driver-1", role: "driver" });
    expect((await fn.request("/anyone", { headers: as(valid("rider")) })).status).toBe(200);
  });

  it("accepts the Bearer scheme in any letter case, as HTTP auth schemes are case-insensitive", async () => {
    for (const scheme of ["bearer", "BEARER"]) {
      const res = await fn.request("/riders-only", { headers: { authorization: `${scheme} ${valid("rider")}` } });
      expect(res.status, scheme).toBe(200);
    }
  });

  it("answers 403 forbidden to a valid token with another role", async () => {
    await expectRefused(await fn.request("/riders-only", { headers: as(valid("driver")) }), 403, "forbidden");
  });

  it("answers 401 unauthorized without a bearer token", async () => {
    await expectRefused(await fn.request("/riders-only"), 401, "unauthorized");
    await expectRefused(await fn.request("/riders-only", { headers: { authorization: valid("rider") } }), 401, "unauthorized");
    await expectRefused(await fn.request("/riders-only", { headers: { authorization: "Basic cmlkZXI6cHc=" } }), 401, "unauthorized");
  });

  it("answers 401 unauthorized to an invalid token", async () => {
    await expectRefused(
      await fn.request("/riders-only", { headers: as(signToken("other", { id: "r", role: "rider" })) }),
      401,
      "unauthorized",
    );
    await expectRefused(
      await fn.request("/riders-only", { headers: as(signToken(SECRET, { id: "r", role: "rider" }, -1)) }),
      401,
      "unauthorized",
    );
  });

  describe("a token seen before", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("is refused once it expires, although it was accepted before", async () => {
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(NOW);
      const token = signToken(SECRET, { id: "rider-2", role: "rider" }, 60, NOW);
      expect((await fn.request("/riders-only", { headers: as(token) })).status).toBe(200);

      vi.setSystemTime(NOW + 59_000);
      expect((await fn.request("/riders-only", { headers: as(token) })).status).toBe(200);
      vi.setSystemTime(NOW + 60_000);
      await expectRefused(await fn.request("/riders-only", { headers: as(token) }), 401, "unauthorized");
    });

    it("still gets 403 where its role is not allowed, and one changed character is checked afresh", async () => {
      const token = valid("driver");
      expect((await fn.request("/anyone", { headers: as(token) })).status).toBe(200);
      await expectRefused(await fn.request("/riders-only", { headers: as(token) }), 403, "forbidden");

      const last = token.at(-1) === "A" ? "B" : "A";
      await expectRefused(await fn.request("/anyone", { headers: as(`${token.slice(0, -1)}${last}`) }), 401, "unauthorized");
    });
  });
});
