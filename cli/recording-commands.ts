/**
 * The commands that record. For them cli/main.ts starts the sampling worker before anything else
 * loads, and cli/program.ts leaves out the modules of the other commands: every module loaded
 * before the worker starts delays the first sample.
 */
const RECORDING_COMMANDS: ReadonlySet<string> = new Set(['record', 'top']);

/** The command an argv (node, script, command, …) names asks for a recording. */
export const recordsFor = (argv: readonly string[]): boolean => RECORDING_COMMANDS.has(argv[2] ?? '');
