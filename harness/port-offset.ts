/** Added to every port a suite's stack listens on (UITGO_TEST_PORT_OFFSET), so that two suites do not collide. */
export const PORT_OFFSET = Number(process.env.UITGO_TEST_PORT_OFFSET ?? 0);
