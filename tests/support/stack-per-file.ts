// The whole stack for one test file, on ports of its own and with its own log folder, plus the history tables; every
// test starts from empty stores.
import { afterAll, beforeAll, beforeEach } from "vitest";
import { startStack, type Stack, type StackOptions } from "../../local/stack";
import { HistoryTables } from "./location-history";
import { resetState } from "./state";
import { TEST_PORT_OFFSET } from "./test-env";

export interface StackPerFile {
  /** The running stack (after beforeAll). */
  readonly stack: Stack;
  readonly tables: HistoryTables;
  readonly logDir: string;
}

/** `basePort` before the suite's offset; `name` names the log folder under .local/test-logs. */
export function stackPerFile(basePort: number, name: string, options: Pick<StackOptions, "env"> = {}): StackPerFile {
  const logDir = `.local/test-logs/${name}`;
  const tables = new HistoryTables();
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack({ basePort: basePort + TEST_PORT_OFFSET, build: false, logDir, ...options });
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
    logDir,
  };
}
