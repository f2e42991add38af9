import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import type { Reporter, TestCase, TestModule } from "vitest/node";

// The counts so far, rewritten to .tmp/vitest-progress.json after every test, so that CI can
// still say how many passed and which files were running when a run ends without vitest's own
// report (a test worker killed by test/util/watchdog.ts ends the run). Every minute it also
// prints the files that have been running for more than five minutes.

const OUT = ".tmp/vitest-progress.json";

export default class ProgressReporter implements Reporter {
  private passed = 0;
  private failed = 0;
  private skipped = 0;
  private readonly running = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  onInit(): void {
    mkdirSync(dirname(OUT), { recursive: true });
    this.write();
    this.timer = setInterval(() => this.reportSlow(), 60_000);
    this.timer.unref();
  }

  onTestModuleStart(module: TestModule): void {
    this.running.set(relative(process.cwd(), module.moduleId), Date.now());
    this.write();
  }

  onTestModuleEnd(module: TestModule): void {
    this.running.delete(relative(process.cwd(), module.moduleId));
    this.write();
  }

  onTestCaseResult(test: TestCase): void {
    const state = test.result().state;
    if (state === "passed") this.passed++;
    else if (state === "failed") this.failed++;
    else this.skipped++;
    this.write();
  }

  onTestRunEnd(): void {
    clearInterval(this.timer);
  }

  private reportSlow(): void {
    const now = Date.now();
    for (const [file, start] of this.running) {
      const seconds = Math.round((now - start) / 1000);
      if (seconds >= 300) process.stderr.write(`[progress] ${file} has been running for ${seconds} s\n`);
    }
  }

  private write(): void {
    const running = [...this.running.keys()];
    writeFileSync(OUT, JSON.stringify({ passed: this.passed, failed: this.failed, skipped: this.skipped, running }) + "\n");
  }
}
