// The domain's refusals of what a client sent. They know nothing of HTTP: shared/http/errors.ts maps them to
// 400 and 401 in the documented error shape, as Hono's middleware maps the errors of its pure utils/jwt.

export interface ErrorDetail {
  field?: string;
  issue: string;
}

/** Input that breaks a rule of its schema or its event format: answered 400 with `code` and the details. */
export class InvalidInput extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
  }
}

/** A bearer token that is missing, malformed, forged or expired: answered 401. */
export class InvalidToken extends Error {}
