// The whole stack for one test file, on ports of its own and with the file's own log folder (fileLogDir), plus the
// history tables; every test starts from empty stores.
import { afterAll, beforeAll, beforeEach } from "vitest";
import { startStack, type Stack, type StackOptions } from "../../local/stack";
import { HistoryTables } from "./location-history";
import { fileLogDir } from "./process-watch";
import { resetState } from "../../harness/state";
import { TEST_PORT_OFFSET } from "./test-env";

export interface StackPerFile {
  /** The running stack (after beforeAll). */
  readonly stack: Stack;
  readonly tables: HistoryTables;
}

/** `basePort` before the suite's offset. */
export function stackPerFile(basePort: number, options: Pick<StackOptions, "env" | "traces"> = {}): StackPerFile {
  const tables = new HistoryTables();
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack({ basePort: basePort + TEST_PORT_OFFSET, build: false, logDir: fileLogDir(), ...options });
  });
  afterAll(async () => {
    await stack?.stop();
    await tables.close();
  });
  beforeEach(async () => {
    await resetState();
    await tables.clear();
  });
  return {
    get stack() {
      if (!stack) throw new Error("the stack is started in beforeAll");
      return stack;
    },
    tables,
  };
}
