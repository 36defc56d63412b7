import type { Reporter, SerializedError, TestModule } from "vitest/node";

/**
 * Prints the final plain line CI reads: "N passed, M failed". Failed counts
 * test cases that failed, test files that could not run at all, and
 * unhandled errors.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    let passed = 0;
    // An unhandled error fails the run even when every test passed.
    let failed = unhandledErrors.length;
    for (const module of testModules) {
      let casesInModule = 0;
      for (const test of module.children.allTests()) {
        casesInModule++;
        const state = test.result().state;
        if (state === "passed") {
          passed++;
        } else if (state === "failed") {
          failed++;
        }
      }
      if (casesInModule === 0 && module.state() === "failed") {
        failed++;
      }
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  }
}
