// Stands in for @nats-io/nkeys in the bundles (esbuild.config.ts). The NATS client loads it, and tweetnacl
// under it, at start-up for nkey and JWT authentication, which UIT-Go does not use (NATS_URL carries any
// user and password). Leaving out those 48 KB takes 10–17 ms off the cold start of every function that
// talks to NATS; asking for nkey authentication fails loudly instead of silently.
function unavailable(): never {
  throw new Error("NATS nkey and JWT authentication are not included in the UIT-Go bundles");
}

export const fromSeed = unavailable;
export const fromPublic = unavailable;
export const encode = unavailable;
export const decode = unavailable;
