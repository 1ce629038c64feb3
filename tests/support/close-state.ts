// Registered for every test file: closes the connections tests/support/state.ts opened.
import { afterAll } from "vitest";
import { closeState } from "./state";

afterAll(closeState);
