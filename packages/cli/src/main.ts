/**
 * The `woodwork` command line: parses argv with commander and dispatches to one function per
 * command. Returns the exit code instead of calling process.exit so it can run inside tests.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { buildCommand, EXPORTS, type BuildOptions } from './commands/build.js';
import { devCommand } from './commands/dev.js';
import { fmtCommand, type FmtOptions } from './commands/fmt.js';
import { indexCommand } from './commands/index-knowledge.js';
import { initCommand } from './commands/init.js';
import { runCommand } from './commands/run.js';
import { validateCommand } from './commands/validate.js';
import { logsCommand, type LogsOptions } from './commands/logs.js';
import { statusCommand, type StatusOptions } from './commands/status.js';
import { stopCommand, type StopOptions } from './commands/stop.js';
import { testCommand, type TestOptions } from './commands/test.js';
import { upCommand, type UpOptions } from './commands/up.js';
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
    .command('fmt')
    .description('rewrite .ww files in the canonical layout (spacing, indentation), keeping comments and each file\'s dialect')
    .argument('[paths...]', 'files and folders (searched for *.ww; default: the current folder)')
    .addOption(new Option('--check', 'write nothing; list the files that are not formatted and exit 1 (for CI)').conflicts('stdout'))
    .option('--stdout', 'print the formatted text instead of writing the files')
    .addHelpText('after', '\nA file with syntax errors is not rewritten: its diagnostics are printed instead.\nExit codes: 0 formatted (or already formatted), 1 files not formatted with --check, or syntax errors, or unreadable paths, 2 wrong usage.')
    .action(async (paths: string[], options: FmtOptions) => {
      exitCode = await fmtCommand(terminal, paths, options);
    });

  program
    .command('index')
    .description('index the documents of every knowledge_base chroma into its collection (incremental)')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .option('--only <name>', 'only this knowledge base')
    .addHelpText('after', '\nOnly files added, changed (by modification time, then content hash) or removed since the last run are embedded or deleted; with nothing changed it does nothing and says so.\nExit codes: 0 indexed, 1 problems (the file, the server, the embedding model), 2 wrong usage.')
    .action(async (file: string, options: { only?: string }) => {
      exitCode = await indexCommand(terminal, file, options);
    });

  program
    .command('init')
    .description('create a small working Woodwork project')
    .argument('[dir]', 'where to create it', '.')
    .addOption(new Option('-f, --force', 'overwrite files that already exist'))
    .addHelpText('after', '\nIt writes main.ww, main.scenario.yaml (a woodwork test scenario), pipes.ts, hooks.ts, package.json, .gitignore, .env.example and a README; then `npm install` there.\nExit codes: 0 written, 1 files already there (nothing written), 2 wrong usage.')
    .action(async (dir: string, options: { force?: boolean }) => {
      exitCode = await initCommand(terminal, dir, options);
    });

  program
    .command('run')
    .description('run a .ww file in this process and talk to it (one-shot, piped or interactive)')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .addOption(new Option('-i, --input <text>', 'send this text and print the reply (repeatable), then exit').argParser(collect))
    .option('--bus <url>', 'use this bus (redis://, nats://, kafka://) instead of the in-memory one')
    .option('--session <id>', 'continue this session')
    .option('--attach', 'talk to the running `woodwork up` of this project instead of running the components here')
    .addHelpText('after', '\nWithout --input it reads lines from stdin (interactive on a terminal).\nExit codes: 0 ok, 1 problems (at load, or a failed turn), 2 wrong usage.')
    .action(async (file: string, options: { input?: string[]; bus?: string; session?: string; attach?: boolean }) => {
      exitCode = await runCommand(terminal, file, options);
    });

  program
    .command('dev')
    .description('run a .ww file with hot reload of the file, its pipes and its hooks')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .option('--bus <url>', 'use this bus instead of the in-memory one')
    .option('--console', 'serve the web console on 127.0.0.1 (its link, token included, is printed on stderr)')
    .addOption(consolePortOption())
    .addHelpText('after', '\nExit codes: 0 ok, 1 problems at load, 2 wrong usage.')
    .action(async (file: string, options: { bus?: string; console?: boolean; consolePort?: string }) => {
      exitCode = await devCommand(terminal, file, options);
    });

  program
    .command('up')
    .description('run each component (or vm server group) as its own process over a real bus, supervised')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .option('--bus <url>', 'the broker: redis://, nats:// or kafka:// (default: WOODWORK_BUS_URL, then the file\'s bus)')
    .option('--sessions <url>', 'Redis for sessions and the registry (default: WOODWORK_SESSIONS_URL, then the bus when it is Redis)')
    .option('--namespace <name>', 'topic and key prefix, to keep topologies on one broker apart (default: WOODWORK_NAMESPACE, then woodwork)')
    .option('-d, --detach', 'run in the background; return once every process is ready')
    .option('--no-input', 'do not attach the terminal to an `input command_line`')
    .option('--no-restart', 'leave a process that ends down instead of restarting it')
    .option('--ready-timeout <seconds>', 'how long to wait for every process to be ready', '90')
    .option('--stop-timeout <seconds>', 'how long a process may drain after SIGTERM before SIGKILL', '30')
    .option('--console', 'serve the web console on 127.0.0.1 once every process is ready (foreground only)')
    .addOption(consolePortOption())
    .addOption(new Option('--supervise').hideHelp())
    .addHelpText(
      'after',
      '\nLogs go to .woodwork/logs/<component>.log; `woodwork status`, `woodwork logs` and `woodwork stop` work from any terminal.\nExit codes: 0 stopped cleanly, 1 problems (the file, a broker, a process that cannot start), 2 wrong usage.',
    )
    .action(async (file: string, options: UpOptions) => {
      exitCode = await upCommand(terminal, file, options);
    });

  program
    .command('test')
    .description('run the scenarios (*.scenario.yaml) of a project: scripted model answers, mocked tools, expectations checked')
    .argument('[paths...]', 'folders to search and scenario files (default: the current folder)')
    .option('-u, --update', 'write what each turn did as its expectations, then run again')
    .option('--live', 'call the real model providers (keys needed, costs money) instead of the scripted answers')
    .option('--json', 'print the report as JSON')
    .option('--junit <file>', 'also write the report as JUnit XML to this file')
    .option('--concurrency <n>', 'scenarios run at once (default: the cores, at most 4)')
    .addHelpText('after', '\nThe scenario format: the README of @woodwork/cli (woodwork test) and its JSON Schema, @woodwork/cli/scenario.schema.json.\nExit codes: 0 every scenario passed, 1 a scenario failed or could not run, 2 wrong usage.')
    .action(async (paths: string[], options: TestOptions) => {
      exitCode = await testCommand(terminal, paths, options);
    });

  program
    .command('build')
    .description('write the container artifacts: an image (Dockerfile), docker-compose.yml, Kubernetes manifests, a Helm chart')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .option('-o, --output <dir>', 'where to write (default: build/ beside the .ww file)')
    .option('--export <formats>', `only these, comma-separated: ${EXPORTS.join(', ')} (default: all)`)
    .option('--image <name:tag>', 'the image the containers run (default: <project>:latest)')
    .option('--bus <url>', 'the broker Kubernetes and Helm deployments connect to (default: redis://redis:6379, nats://nats:4222 or kafka://kafka:9092)')
    .option('--sessions <url>', 'Redis for sessions when the bus is NATS or Kafka (default: redis://redis:6379)')
    .option('--namespace <name>', 'the Kubernetes namespace the kustomization sets')
    .option('--deploy <target>', '`local`: run the compose file with Docker once written')
    .option('-f, --force', 'write into an output folder that does not hold an earlier build')
    .addHelpText('after', '\nExit codes: 0 built (and deployed), 1 problems (the file, an option, Docker), 2 wrong usage.')
    .action(async (file: string, options: BuildOptions) => {
      exitCode = await buildCommand(terminal, file, options);
    });

  program
    .command('status')
    .description('show the processes of a woodwork up: pids, ports, health, readiness, restarts, counters')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExit codes: 0 every process ready, 1 not running or not all ready.')
    .action(async (file: string, options: StatusOptions) => {
      exitCode = await statusCommand(terminal, file, options);
    });

  program
    .command('logs')
    .description('print the output of the processes of a woodwork up')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .option('-c, --component <name>', 'only this component (or vm server group)')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <n>', 'only the last n lines before following')
    .option('-t, --timestamps', 'show when each line was written')
    .addHelpText('after', '\nExit codes: 0 printed (or --follow ended by Ctrl-C), 1 no woodwork up state for this project, 2 wrong usage.')
    .action(async (file: string, options: LogsOptions) => {
      exitCode = await logsCommand(terminal, file, options);
    });

  program
    .command('stop')
    .description('stop a woodwork up from any terminal: SIGTERM, drain, SIGKILL after a deadline')
    .argument('[file]', 'the .ww file, or a folder holding main.ww', 'main.ww')
    .option('--timeout <seconds>', 'how long to wait before SIGKILL', '45')
    .action(async (file: string, options: StopOptions) => {
      exitCode = await stopCommand(terminal, file, options);
    });

  for (const command of program.commands) {
    command.helpOption('-h, --help', 'show help').exitOverride();
  }

  // A console port without the console would be ignored without a word.
  program.hook('preAction', (_program, command) => {
    const options = command.opts<{ console?: boolean; consolePort?: string }>();
    if (options.consolePort !== undefined && !options.console) {
      command.error(`error: --console-port ${options.consolePort} is the port of the web console, which is served only with --console: add --console`, {
        code: 'woodwork.consolePortAlone',
        exitCode: ExitCode.usage,
      });
    }
  });

  // A scenario given where a .ww file goes would be parsed as one: a screenful of syntax errors
  // about YAML lines. Say what it is and which command runs it instead.
  program.hook('preAction', (_program, command) => {
    const [first] = command.registeredArguments;
    const given = first?.name() === 'file' ? [command.processedArgs[0]] : command.name() === 'fmt' ? (command.processedArgs[0] as unknown[]) : [];
    const scenario = given.find((value): value is string => typeof value === 'string' && value.endsWith('.scenario.yaml'));
    if (scenario !== undefined) {
      const instead = command.name() === 'fmt' ? 'give `woodwork fmt` .ww files or folders' : `give \`woodwork ${command.name()}\` a .ww file (default: main.ww)`;
      command.error(`error: ${scenario} is a scenario for \`woodwork test\`, not a .ww file: run it with \`woodwork test ${scenario}\`, or ${instead}`, {
        code: 'woodwork.scenarioGiven',
        exitCode: ExitCode.usage,
      });
    }
  });

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

/** `--console-port <port>`: a port number (0: a free one), checked before anything starts. */
function consolePortOption(): Option {
  return new Option('--console-port <port>', 'the console\'s port (default: a free one; a port in use stops the command)').argParser((value: string) => {
    if (!/^\d+$/.test(value) || Number(value) > 65_535) throw new InvalidArgumentError('It takes a port number from 1 to 65535 (0 or leaving it out: a free one).');
    return value;
  });
}

/** Collects a repeatable option's values. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
