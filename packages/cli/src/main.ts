/**
 * The `woodwork` command line: parses argv with commander and dispatches to one function per
 * command. Returns the exit code instead of calling process.exit so it can run inside tests.
 */
import { Command, CommanderError, Option } from 'commander';
import { initCommand } from './commands/init.js';
import { validateCommand } from './commands/validate.js';
import { ExitCode, paint, useColor, type Terminal } from './terminal.js';
import { cliVersion } from './version.js';

export async function main(argv: readonly string[], terminal: Terminal): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const program = new Command('woodwork')
    .description('Run AI agent systems declared in .ww files as event-driven components.')
    .version(cliVersion, '-v, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run woodwork --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => terminal.stdout.write(text),
      writeErr: (text) => terminal.stderr.write(text),
      outputError: (text, write) => write(paint(useColor(terminal, 'stderr'))('red', text)),
    });

  program
    .command('validate')
    .description('check a .ww file and report every problem at once')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .option('--json', 'print the topology (or the diagnostics) as JSON')
    .addHelpText('after', '\nExit codes: 0 valid, 1 problems found, 2 wrong usage.')
    .action(async (file: string, options: { json?: boolean }) => {
      exitCode = await validateCommand(terminal, file, options);
    });

  program
    .command('init')
    .description('create a small working Woodwork project')
    .argument('[dir]', 'where to create it', '.')
    .addOption(new Option('-f, --force', 'overwrite files that already exist'))
    .action(async (dir: string, options: { force?: boolean }) => {
      exitCode = await initCommand(terminal, dir, options);
    });

  for (const command of program.commands) {
    command.helpOption('-h, --help', 'show help').exitOverride();
  }

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
        return ExitCode.ok;
      }
      if (error.code === 'commander.executeSubCommandAsync') return ExitCode.problems;
      return ExitCode.usage;
    }
    throw error;
  }
  if (argv.length === 0) {
    program.outputHelp();
    return ExitCode.usage;
  }
  return exitCode;
}
