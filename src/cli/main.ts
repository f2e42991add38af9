import { checkCommand } from "./check.js";
import { UsageError } from "./io.js";
import { irCommand } from "./ir.js";
import { trainCommand } from "./train.js";

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  check: checkCommand,
  conformance: (argv) => import("./conformance.js").then((m) => m.conformanceCommand(argv)),
  ir: irCommand,
  train: trainCommand,
};

const USAGE = `usage: netc COMMAND FILE [options]

commands:
  check FILE                      parse and type-check a .net file
  ir FILE [--after PASS]          print the IR after a pass (lower, infer-shapes, autodiff,
          [--debug-info]          optimizer, simplify, fuse); --debug-info adds source locations;
          [--format F]            F: text (default), dot (Graphviz) or svg (the graph laid out,
          [--output FILE]         kernels as boxes); --output writes FILE instead of stdout
  train FILE [--backend B]        train the network (B: auto, webgpu or cpu; auto falls back to
        [--seed N] [--epochs N]   the CPU with a warning when there is no WebGPU adapter)
        [--log-every N]
`;

/** Runs the CLI; returns the exit code. User errors print one line; compiler bugs say so. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`netc: unknown command \`${name}\`\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`netc: ${e.message}\n`);
      return 1;
    }
    const err = e as Error;
    process.stderr.write(
      `netc: internal compiler error: ${err.message}\n` +
        `This is a bug in netc, not in your input. Please report it with the .net file and this trace:\n${err.stack ?? ""}\n`,
    );
    return 70;
  }
}
