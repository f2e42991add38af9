import { defineConfig } from "vitest/config";

export default defineConfig({
  // NOTE: an IP, not "localhost": vite looks "localhost" up at start-up, and a fresh chroot or
  // container may have no /etc/hosts to answer it (seen: getaddrinfo ENOTFOUND localhost).
  server: { host: "127.0.0.1" },
  test: {
    include: ["test/**/*.test.ts"],
    // NOTE: Dawn is a native addon; separate processes keep one device per test file and let
    // each process destroy its device before it exits.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    setupFiles: ["test/util/watchdog.ts"],
    // NOTE: tests compile with the built-in matmul table, never choices timed on this machine
    // (deterministic, and nothing written to the user's cache); CLI children inherit this.
    env: { NETC_TUNE: "0" },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
