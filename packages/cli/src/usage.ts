import { BulkheadError, ErrorCode } from '@bulkhead/core';

export function usageError(message: string): BulkheadError {
  return new BulkheadError(ErrorCode.USAGE, message);
}

export const HELP = `usage: bulkhead [global flags] COMMAND [flags]

Commands:
  run [flags] [--] CMD [ARG...]   run CMD in a new container and wait for it
  plan [flags] [--] CMD [ARG...]  print the child program of that container without running it
  check [--rules FILE] [--json] CONFIG
                                  check a config.json against compliance rules; exit 0 pass, 1 fail
  audit ID                        print the container's audit events as JSON lines

OCI runtime commands, as runc has them:
  create [--bundle DIR] [--pid-file FILE] ID   create a container from an OCI bundle; it waits for start
  start ID                                     run the created container's process
  run [--bundle DIR] [-d] [--pid-file FILE] ID create and start; wait for it unless -d
  exec [--env K=V] [--cwd DIR] [--user UID[:GID]] [--cap CAP] [--process FILE] [-d] [--pid-file FILE] [--tty] ID CMD [ARG...]
                                               run another process in a running container;
                                               --cap adds a capability (repeatable)
  create, run and exec also take:
    --console-socket PATH   send the pty master of a terminal process to this UNIX socket
    --preserve-fds N        pass fds 3 to 3+N-1 on to the process, as its fds 3, 4, ...
  create and run also take:
    --no-pivot              enter the root with MS_MOVE and chroot instead of pivot_root
  state ID                                     print the container's state as JSON
  kill [--all] ID [SIGNAL]                     send SIGNAL (default SIGTERM)
  pause ID, resume ID                          freeze and thaw every process of the container
  events [--interval 5s] [--stats] ID          print statistics, enforcement events and intrusion blocks as JSON lines
  update [flags] ID, update --resources FILE ID
                                               change limits: --memory, --memory-swap, --memory-reservation,
                                               --cpu-quota, --cpu-period, --cpu-shares, --cpuset-cpus,
                                               --cpuset-mems, --pids-limit, --blkio-weight, ...
  delete [--force] ID                          remove a stopped or created container
  list [--format table|json] [--quiet]         list containers
  ps [--format table|json] ID                  list the container's processes
  spec [--bundle DIR]                          write a default config.json
  features                                     print the runtime's features and the kernel's
  net-stats [--json] ID                        print the container's interface and firewall counters

Flags of run and plan:
  --rootfs DIR      root filesystem (default: a built-in root of read-only host directories and a tmpfs)
  --image DIR       root filesystem as an overlay: DIR is the read-only lower layer, shared by
                    every container; the container's changes go to an upper layer under the state root
  --keep            keep the overlay's upper layer (<state root>/.overlay/ID) after the container is deleted
  --read-only       mount the root filesystem read-only (the built-in root always is)
  --etc-hostname    bind a written /etc/hostname with the container's hostname
  --etc-hosts       bind a written /etc/hosts with localhost and the hostname
  --add-host NAME:ADDRESS  add an /etc/hosts entry (implies --etc-hosts); repeatable
  --etc-resolv-conf bind a copy of the host's /etc/resolv.conf
  --dns ADDRESS, --dns-search DOMAIN, --dns-option OPTION
                    write /etc/resolv.conf with these instead of the host's copy; repeatable
  --hostname NAME   hostname in the container (default: bulkhead)
  --env KEY=VALUE   set an environment variable; repeatable
  --cwd DIR         working directory in the container (default: /)
  --init            run a minimal init as PID 1 that reaps zombies and forwards signals
  --id ID           container id (default: random)
  --memory SIZE     memory limit, such as 64M or 1G
  --memory-swap SIZE  memory plus swap limit
  --cpus N          CPU time limit in CPUs, such as 0.5 (a CFS quota over a 100 ms period)
  --cpu-shares N    relative CPU weight (cgroup v1 shares; converted to a weight on v2)
  --cpuset-cpus LIST  CPUs the container may run on, such as 0-1
  --pids-limit N    maximum number of processes; -1 for no limit
  --io-read-bps DEV:RATE, --io-write-bps DEV:RATE    bytes per second for a block device; repeatable
  --io-read-iops DEV:RATE, --io-write-iops DEV:RATE  operations per second; repeatable
  --ulimit TYPE=SOFT[:HARD]  an rlimit, such as nofile=1024:4096; repeatable
  --cgroupns        give the container its own cgroup namespace
  --adjust cpu=MIN:MAX|memory=MIN:MAX  move the CPU quota (in CPUs, 10% steps) or the memory limit
                    (memory.high on cgroup v2, 5% steps) within bounds from pressure stall
                    information; each change is printed as an audit line; repeatable
  -t, --tty         mark the process as a terminal one; it uses your terminal as its stdio
  --level strict|moderate|permissive  apply an isolation level (see docs/security.md)
  --allow-privileged  with --level: every capability, no seccomp profile, no masked paths
  --allow-nested    with --level: what a container runtime inside the container needs
  --seccomp default|unconfined|FILE
                    seccomp filter: bulkhead's default profile, none (the default), or the
                    linux.seccomp JSON object in FILE (./default for a file named default)
  --network MODE    none (default: own namespace, loopback only), host, bridge[:NAME] (default
                    bridge bulkhead0), cni:CONFIG (hand the namespace to the CNI plugins of a
                    .conf or .conflist file) or ns:PATH (join the network namespace at PATH)
  --subnet CIDR     the bridge's IPv4 subnet, on its first use (default 10.213.0.0/24)
  --gateway ADDR    the bridge's address, on its first use (default: the subnet's first address)
  --ip-range FIRST-LAST  addresses leased to containers, on the bridge's first use
  --vxlan VNI:REMOTE[,REMOTE]  join the bridge to the same network on other hosts (underlay
                    IPv4 addresses) with a vxlan device, on the bridge's first use
  --masquerade      source NAT for traffic leaving the bridge's subnet (nftables rules only)
  --egress-rate RATE, --ingress-rate RATE    token bucket rate, such as 10mbit; bridge only
  --egress-burst SIZE, --ingress-burst SIZE  token bucket size, such as 32kb
  --shaper htb|tbf[,quantum=BYTES][,overhead=BYTES]  shaping algorithm of the rates (default tbf,
                    htb with QoS classes); quantum for htb only; overhead added to each packet
  --qos-class NAME:RATE[:CEIL][:PRIO],match=dport:PORT|sport:PORT|dscp:VALUE[,direction=ingress]
                    an htb class under the direction's rate (default egress); repeatable
  --offload gro|tso|gso=on|off[,...]  offload switches on both ends of the veth pair
  --firewall JSON|@FILE  firewall: {"policy":{"ingress":"drop"},"rules":[{"direction":"ingress",
                    "action":"accept","protocol":"tcp","port":8080,"cidr":"10.0.0.0/8"}]}

Flags of plan only:
  --json            print the plan as JSON

Global flags:
  --root DIR        state directory (default: /run/bulkhead)
  --mount-policy FILE  JSON mount policy for every container: allowedTypes, maxMounts,
                    maxTmpfsSize (bytes), force {nosuid, nodev, noexec}, readonlyRoot
  --debug           log every step at debug level to stderr
  --log FILE        write logs to FILE instead of stderr
  --log-format text|json
  --version         print the version
`;
