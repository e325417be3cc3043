
use builtin;
use str;

set edit:completion:arg-completer[cyxcloud] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'cyxcloud'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'cyxcloud'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand configure 'Save the gateway URL and API key (interactive, or entirely by flags)'
            cand signup 'Create an account and store an API key for this machine'
            cand login 'Log in and store an API key for this machine'
            cand logout 'Forget this profile''s stored API key, session and cached key'
            cand keys 'Manage API keys'
            cand mb 'Make a bucket'
            cand rb 'Remove an empty bucket'
            cand ls 'List buckets, or objects under cyx://bucket/prefix'
            cand upload 'Upload files, directories (recursively) or stdin (`-`)'
            cand download 'Download an object to a file or stdout'
            cand cat 'Write an object to stdout'
            cand rm 'Delete an object, or everything under a prefix with --recursive'
            cand stat 'Show an object''s details'
            cand status 'Storage used against the quota, for the account or one bucket'
            cand node 'Run a storage node'
            cand gateway 'Run a gateway'
            cand dev 'Start a complete local network (gateway + 14 nodes) and configure this CLI for it'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'cyxcloud;configure'= {
            cand --gateway-url 'Gateway URL (e.g. https://gateway.cyxwiz.com)'
            cand --api-key 'API key (cyxk_live_...); prefer --api-key-stdin so it stays out of shell history'
            cand --default-bucket 'Bucket used when a command names none'
            cand --secret-store 'Where to keep secrets: auto, keyring or file'
            cand --grpc-url 'Gateway gRPC URL (asked from the gateway when unset)'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --api-key-stdin 'Read the API key from the first line of stdin'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;signup'= {
            cand --email 'email'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --password-stdin 'Read the password from the first line of stdin'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;login'= {
            cand --email 'email'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --password-stdin 'Read the password from the first line of stdin'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;logout'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;keys'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Create an API key; its secret is shown once'
            cand list 'List API keys'
            cand revoke 'Revoke an API key'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'cyxcloud;keys;create'= {
            cand --name 'name'
            cand --expires 'Expiry (RFC 3339)'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --read-only 'Read-only key'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;keys;list'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;keys;revoke'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;keys;help'= {
            cand create 'Create an API key; its secret is shown once'
            cand list 'List API keys'
            cand revoke 'Revoke an API key'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'cyxcloud;keys;help;create'= {
        }
        &'cyxcloud;keys;help;list'= {
        }
        &'cyxcloud;keys;help;revoke'= {
        }
        &'cyxcloud;keys;help;help'= {
        }
        &'cyxcloud;mb'= {
            cand --profile 'Erasure profile: basic, standard, high-durability, extreme, efficient'
            cand --ec 'Custom erasure coding, data+parity (e.g. 8+6)'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --public 'Anyone may read objects in the bucket'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;rb'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;ls'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -l 'Long form: size, date, encryption'
            cand --long 'Long form: size, date, encryption'
            cand -r 'Everything under the prefix, not just one level'
            cand --recursive 'Everything under the prefix, not just one level'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;upload'= {
            cand -b 'Destination bucket (default: the profile''s default bucket)'
            cand --bucket 'Destination bucket (default: the profile''s default bucket)'
            cand -k 'Object key (one file or stdin), or the key prefix for a directory'
            cand --key 'Object key (one file or stdin), or the key prefix for a directory'
            cand --profile 'Erasure profile for these objects (default: the bucket''s)'
            cand --ec 'Custom erasure coding data+parity'
            cand --content-type 'Content-Type (default: from the file extension)'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --no-compress 'Store without trying compression'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;download'= {
            cand -k 'k'
            cand --key 'key'
            cand -o 'Output file or directory, or `-` for stdout (default: the key''s file name here)'
            cand --output 'Output file or directory, or `-` for stdout (default: the key''s file name here)'
            cand --range 'Only bytes START-END (inclusive, as in HTTP Range) or START- ; fetches only the chunks the range touches'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;cat'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;rm'= {
            cand -b 'b'
            cand --bucket 'bucket'
            cand -k 'k'
            cand --key 'key'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -r 'Delete every object under the prefix'
            cand --recursive 'Delete every object under the prefix'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;stat'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;status'= {
            cand -b 'b'
            cand --bucket 'bucket'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;node'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Run a storage node until interrupted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'cyxcloud;node;run'= {
            cand -c 'Path to node.toml (optional; every setting has a default)'
            cand --config 'Path to node.toml (optional; every setting has a default)'
            cand --id 'Node id'
            cand --type 'miner | volunteer | enterprise'
            cand --storage-path 'Data directory'
            cand --capacity-gb 'Capacity in GB'
            cand --read-cache-mb 'Read cache for shards in MiB, 0 for none'
            cand --min-free-mb 'Disk space kept free in MiB: new shards are refused below it'
            cand --backend 'rocksdb | memory'
            cand --grpc-host 'gRPC listen host'
            cand --grpc-port 'gRPC listen port, 0 for any free port'
            cand --advertise-address 'Address to advertise to the gateway'
            cand --gateway-url 'Gateway NodeService URL'
            cand --gateway-public-key 'Gateway grant-signing public key, hex'
            cand --metrics-port 'Prometheus port, 0 disables'
            cand --log-level 'Log level or filter'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --log-json 'Log as JSON lines'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;node;help'= {
            cand run 'Run a storage node until interrupted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'cyxcloud;node;help;run'= {
        }
        &'cyxcloud;node;help;help'= {
        }
        &'cyxcloud;gateway'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Run a gateway until interrupted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'cyxcloud;gateway;run'= {
            cand -c 'Path to gateway.toml (optional; every setting has a default)'
            cand --config 'Path to gateway.toml (optional; every setting has a default)'
            cand --host 'Bind address'
            cand --port 'HTTP (S3, REST) port'
            cand --grpc-port 'gRPC port (NodeService, GatewayService)'
            cand --data-dir 'Data directory (embedded database, gateway key)'
            cand --database-url 'PostgreSQL URL (postgres://...) or sqlite:// URL; default: SQLite in the data directory'
            cand --redis-url 'Accepted for compatibility; unused'
            cand --jwt-secret 'Secret that signs access tokens (required outside --dev)'
            cand --solana-rpc-url 'Solana RPC endpoint'
            cand --public-url 'Public URL of this gateway''s HTTP API, as clients reach it'
            cand --default-quota-bytes 'Default storage quota of new accounts, bytes'
            cand --chunk-size-bytes 'Chunk size of uploads through the S3 API, bytes'
            cand --node-offline-threshold-secs 'node-offline-threshold-secs'
            cand --node-drain-threshold-secs 'node-drain-threshold-secs'
            cand --node-remove-threshold-secs 'node-remove-threshold-secs'
            cand --node-recovery-quarantine-secs 'node-recovery-quarantine-secs'
            cand --node-monitor-interval-secs 'node-monitor-interval-secs'
            cand --log-level 'Log level or filter'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --dev 'Development mode: allows the sample or an empty JWT secret'
            cand --log-json 'Log as JSON lines'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;gateway;help'= {
            cand run 'Run a gateway until interrupted'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'cyxcloud;gateway;help;run'= {
        }
        &'cyxcloud;gateway;help;help'= {
        }
        &'cyxcloud;dev'= {
            cand --data-dir 'Where the network keeps its data (default: ~/.cyxcloud/dev)'
            cand --nodes 'Number of storage nodes (8+6 needs 14)'
            cand --port 'Gateway HTTP port (0: any free port)'
            cand --grpc-port 'Gateway gRPC port (0: any free port)'
            cand --chunk-size 'Chunk size in bytes for new uploads (default: the gateway''s, 64 MiB)'
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand --no-configure 'Do not write the CLI profile'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;completions'= {
            cand --config-profile 'Configuration profile to use [env: CYXCLOUD_PROFILE]'
            cand --gateway 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]'
            cand --max-connections 'Upper bound on concurrent shard transfers (adapts below it to the link)'
            cand -q 'No progress bars or informational messages'
            cand --quiet 'No progress bars or informational messages'
            cand --json 'Machine-readable JSON output (listings and status)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'cyxcloud;help'= {
            cand configure 'Save the gateway URL and API key (interactive, or entirely by flags)'
            cand signup 'Create an account and store an API key for this machine'
            cand login 'Log in and store an API key for this machine'
            cand logout 'Forget this profile''s stored API key, session and cached key'
            cand keys 'Manage API keys'
            cand mb 'Make a bucket'
            cand rb 'Remove an empty bucket'
            cand ls 'List buckets, or objects under cyx://bucket/prefix'
            cand upload 'Upload files, directories (recursively) or stdin (`-`)'
            cand download 'Download an object to a file or stdout'
            cand cat 'Write an object to stdout'
            cand rm 'Delete an object, or everything under a prefix with --recursive'
            cand stat 'Show an object''s details'
            cand status 'Storage used against the quota, for the account or one bucket'
            cand node 'Run a storage node'
            cand gateway 'Run a gateway'
            cand dev 'Start a complete local network (gateway + 14 nodes) and configure this CLI for it'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'cyxcloud;help;configure'= {
        }
        &'cyxcloud;help;signup'= {
        }
        &'cyxcloud;help;login'= {
        }
        &'cyxcloud;help;logout'= {
        }
        &'cyxcloud;help;keys'= {
            cand create 'Create an API key; its secret is shown once'
            cand list 'List API keys'
            cand revoke 'Revoke an API key'
        }
        &'cyxcloud;help;keys;create'= {
        }
        &'cyxcloud;help;keys;list'= {
        }
        &'cyxcloud;help;keys;revoke'= {
        }
        &'cyxcloud;help;mb'= {
        }
        &'cyxcloud;help;rb'= {
        }
        &'cyxcloud;help;ls'= {
        }
        &'cyxcloud;help;upload'= {
        }
        &'cyxcloud;help;download'= {
        }
        &'cyxcloud;help;cat'= {
        }
        &'cyxcloud;help;rm'= {
        }
        &'cyxcloud;help;stat'= {
        }
        &'cyxcloud;help;status'= {
        }
        &'cyxcloud;help;node'= {
            cand run 'Run a storage node until interrupted'
        }
        &'cyxcloud;help;node;run'= {
        }
        &'cyxcloud;help;gateway'= {
            cand run 'Run a gateway until interrupted'
        }
        &'cyxcloud;help;gateway;run'= {
        }
        &'cyxcloud;help;dev'= {
        }
        &'cyxcloud;help;completions'= {
        }
        &'cyxcloud;help;help'= {
        }
    ]
    $completions[$command]
}
