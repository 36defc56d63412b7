/** The help texts: `tunnelctl --help` and `tunnelctl <command> --help`. */
const GLOBAL = `Global options:
  -s, --server URL    a replica's admin endpoints, e.g. http://10.0.0.5:9090 (env TUNNELCTL_SERVER)
  -t, --token TOKEN   bearer token for them (env TUNNELCTL_TOKEN)
      --json          machine-readable output (JSON; one document per line where it streams)
      --no-color      no colours (also NO_COLOR, or when not writing to a terminal)
      --timeout MS    how long to wait for an answer (default 10000)
  -h, --help          this help`;

export const HELP: Record<string, string> = {
  main: `tunnelctl: see and steer a fleet of agents behind gRPC tunnel replicas

Usage: tunnelctl <command> [options]

Commands:
  keys              list the affinity keys held in the cluster, a page at a time
  locate KEY        show which replica holds a key
  watch             print reverse tunnels opening and closing, live
  status            show a replica: its id, tunnels, whether it is shutting down
  drain             drain a replica gracefully (needs a token)
  call KEY METHOD   call a method on an agent through the gateway, in JSON

${GLOBAL}

Exit codes: 0 ok, 1 failed, 2 bad usage, 3 key not found, 4 unauthorized,
5 server unreachable, 64+N a call failed with gRPC status N.
Run tunnelctl <command> --help for a command's options.`,
  keys: `Usage: tunnelctl keys [--prefix TEXT] [--limit N] [--cursor C | --all]

List the affinity keys some replica holds, with the replicas holding each.
Cluster-wide in cluster mode. Pages hold at most --limit keys (default 100,
at most 1000); a page may be short before the last. Go on with --cursor, or
read every page with --all (--json then prints one key per line).

Options:
      --prefix TEXT   only keys that start with TEXT
      --limit N       keys per page (1-1000, default 100)
      --cursor C      the page after the one that printed C
      --all           every page, one after the other

${GLOBAL}`,
  locate: `Usage: tunnelctl locate KEY

Show the replicas that hold a reverse tunnel for KEY, with their relay
addresses. Exit code 3 when none does.

${GLOBAL}`,
  watch: `Usage: tunnelctl watch [--prefix TEXT] [--count N]

Print reverse tunnels opening and closing, live, until interrupted. Each
replica reports its own: give --server once per replica to watch several.

Options:
      --prefix TEXT   only keys that start with TEXT
      --count N       stop after N events

${GLOBAL}`,
  status: `Usage: tunnelctl status

Show a replica: its id, how many reverse tunnels and keys it holds, and
whether it is shutting down.

${GLOBAL}`,
  drain: `Usage: tunnelctl drain

Drain a replica gracefully: its readiness fails, it takes no new tunnels or
calls, running calls finish, its agents reconnect to other replicas, and it
stops. The replica must be set up with a token (fleetAdmin's token and
onDrain); give it with --token or TUNNELCTL_TOKEN.

${GLOBAL}`,
  call: `Usage: tunnelctl call KEY SERVICE/METHOD [-d JSON] [-H 'name: value']...

Call a unary method on the agent holding KEY, through a control server's
tunnel gateway, with the request and response in JSON (the gateway reads the
agent's types by reflection through its tunnel).

  tunnelctl call camera-3 agent.v1.AgentService/GetStatus -d '{}'

Options:
  -g, --gateway URL   the gateway, e.g. http://10.0.0.5:8080 (env TUNNELCTL_GATEWAY)
  -d, --data JSON     the request (default {})
  -H, --header H      request metadata, "name: value" (repeatable)
      --wait          wait for the agent to connect (within --timeout)

${GLOBAL}`,
};
