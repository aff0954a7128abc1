/** `fulcrum --help`: the commands (each has its own --help). Also the man page's COMMANDS. */
export const USAGE = `Usage: fulcrum <command> [options]

Commands:
  run [-c FILE] [--workers N]   run the balancer (without -c: /etc/fulcrum/fulcrum.yaml)
  demo [--listen ADDR]          the built-in demo: 127.0.0.1:8080 over two demo servers
  check [-c] FILE               validate a configuration, listing every problem
  proxy --to URL [--to URL...]  a one-line HTTP balancer without a configuration file
  reload | stop | status        talk to a running instance over its control socket
  server ACTION POOL/SERVER     drain, ready, maint, weight, add, remove, check a server at runtime
  bgp show                      BGP sessions and routes: announced or withdrawn, and why
  dataplane show|which          the kernel data plane's live rules; which server a flow reaches
  dsr-server --vip VIP          prints, checks and (--apply) applies a DSR server's setup
  lab [--modes LIST]            measures what passes through the balancer in each mode (root)
  systemd-unit [-c FILE]        a systemd unit with just the capabilities FILE needs
  completion bash|zsh           a shell completion script: source <(fulcrum completion bash)

Options:
  -h, --help      help (also after a command: fulcrum run --help)
  -v, --version   print the version, the Node.js version and which native parts are active
`;
