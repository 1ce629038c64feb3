// Registered for every test file: closes the connections harness/state.ts opened.
import { afterAll } from "vitest";
import { closeState } from "../../harness/state";

afterAll(closeState);
