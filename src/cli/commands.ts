/**
 * The commands of the `fulcrum` binary: what main dispatches to, their options for
 * `fulcrum completion`, and their names for "did you mean". Each command's module is
 * imported on demand: a running balancer never loads what only `check` needs.
 */
import { closest } from '../config/common/suggest.js';

interface CommandInfo {
  name: string;
  /** Runs the command with the arguments after its name; resolves with the exit status. */
  run(args: string[]): Promise<number>;
  /** The command's parseArgs options (long name -> short letter, if any). */
  options(): Promise<Readonly<Record<string, { readonly type: string; readonly short?: string }>>>;
  /** Words that may follow the command (dataplane show|which). */
  words?: string[];
}

export const COMMANDS: readonly CommandInfo[] = [
  { name: 'run', run: async (a) => (await import('./run.js')).runCommand(a), options: async () => (await import('./run.js')).RUN_OPTIONS },
  { name: 'demo', run: async (a) => (await import('./run.js')).demoCommand(a), options: async () => (await import('./run.js')).DEMO_OPTIONS },
  { name: 'check', run: async (a) => (await import('./check.js')).checkCommand(a), options: async () => (await import('./check.js')).CHECK_OPTIONS },
  { name: 'proxy', run: async (a) => (await import('./proxy.js')).proxyCommand(a), options: async () => (await import('./proxy.js')).PROXY_OPTIONS },
  ...(['reload', 'stop', 'status'] as const).map(
    (name): CommandInfo => ({ name, run: async (a) => (await import('./control.js')).controlCommand(name, a), options: async () => (await import('./control.js')).CONTROL_OPTIONS }),
  ),
  {
    name: 'server',
    run: async (a) => (await import('./server.js')).serverCommand(a),
    options: async () => (await import('./server.js')).SERVER_OPTIONS,
    words: ['drain', 'ready', 'maint', 'weight', 'add', 'remove', 'check'],
  },
  { name: 'bgp', run: async (a) => (await import('./bgp.js')).bgpCommand(a), options: async () => (await import('./bgp.js')).BGP_OPTIONS, words: ['show'] },
  {
    name: 'dataplane',
    run: async (a) => (await import('./dataplane.js')).dataplaneCommand(a),
    options: async () => (await import('./dataplane.js')).DATAPLANE_OPTIONS,
    words: ['show', 'which'],
  },
  { name: 'dsr-server', run: async (a) => (await import('./dsr-server.js')).dsrServerCommand(a), options: async () => (await import('./dsr-server.js')).DSR_SERVER_OPTIONS },
  { name: 'lab', run: async (a) => (await import('./lab.js')).labCommand(a), options: async () => (await import('./lab.js')).LAB_OPTIONS },
  { name: 'systemd-unit', run: async (a) => (await import('./systemd-unit.js')).systemdUnitCommand(a), options: async () => (await import('./systemd-unit.js')).SYSTEMD_UNIT_OPTIONS },
  { name: 'completion', run: completionCommand, options: async () => ({}), words: ['bash', 'zsh'] },
];

/** `fulcrum completion bash|zsh`. */
async function completionCommand(args: string[]): Promise<number> {
  if (args[0] === 'bash') process.stdout.write(await bashCompletion());
  else if (args[0] === 'zsh') process.stdout.write(await zshCompletion());
  else {
    process.stderr.write('fulcrum completion: give a shell: bash or zsh\n');
    return 2;
  }
  return 0;
}

/** The command closest to a mistyped one, if any is close. */
export function closestCommand(word: string): string | undefined {
  return closest(word, COMMANDS.map((c) => c.name));
}

/** Every flag of a command, long and short. */
async function flags(c: CommandInfo): Promise<string[]> {
  const o = await c.options();
  return Object.entries(o).flatMap(([long, spec]) => [`--${long}`, ...(spec.short === undefined ? [] : [`-${spec.short}`])]);
}

/** A bash completion script: `source <(fulcrum completion bash)`. */
export async function bashCompletion(): Promise<string> {
  const cases = await Promise.all(COMMANDS.map(async (c) => `    ${c.name}) words="${[...(c.words ?? []), ...(await flags(c))].join(' ')}" ;;`));
  return `# fulcrum(1) completion for bash: source <(fulcrum completion bash)
_fulcrum() {
  local cur prev words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${COMMANDS.map((c) => c.name).join(' ')} --help --version" -- "$cur") )
    return
  fi
  case "$prev" in
    -c|--config) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    -s|--socket) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
    *) words="" ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F _fulcrum fulcrum
`;
}

/** A zsh completion script: `source <(fulcrum completion zsh)`. */
export async function zshCompletion(): Promise<string> {
  const cases = await Promise.all(COMMANDS.map(async (c) => `    ${c.name}) compadd -- ${[...(c.words ?? []), ...(await flags(c))].join(' ')} ;;`));
  return `#compdef fulcrum
# fulcrum(1) completion for zsh: source <(fulcrum completion zsh)
_fulcrum() {
  if (( CURRENT == 2 )); then
    compadd -- ${COMMANDS.map((c) => c.name).join(' ')} --help --version
    return
  fi
  case "\${words[CURRENT-1]}" in
    -c|--config|-s|--socket) _files; return ;;
  esac
  case "\${words[2]}" in
${cases.join('\n')}
  esac
}
compdef _fulcrum fulcrum
`;
}
