# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_cyxcloud_global_optspecs
    string join \n config-profile= gateway= max-connections= q/quiet json h/help V/version
end

function __fish_cyxcloud_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_cyxcloud_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_cyxcloud_using_subcommand
    set -l cmd (__fish_cyxcloud_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "configure" -d 'Save the gateway URL and API key (interactive, or entirely by flags)'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "signup" -d 'Create an account and store an API key for this machine'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "login" -d 'Log in and store an API key for this machine'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "logout" -d 'Forget this profile\'s stored API key, session and cached key'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "keys" -d 'Manage API keys'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "mb" -d 'Make a bucket'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "rb" -d 'Remove an empty bucket'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "ls" -d 'List buckets, or objects under cyx://bucket/prefix'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "upload" -d 'Upload files, directories (recursively) or stdin (`-`)'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "download" -d 'Download an object to a file or stdout'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "cat" -d 'Write an object to stdout'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "rm" -d 'Delete an object, or everything under a prefix with --recursive'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "stat" -d 'Show an object\'s details'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "status" -d 'Storage used against the quota, for the account or one bucket'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "node" -d 'Run a storage node'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "gateway" -d 'Run a gateway'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "dev" -d 'Start a complete local network (gateway + 14 nodes) and configure this CLI for it'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c cyxcloud -n "__fish_cyxcloud_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l gateway-url -d 'Gateway URL (e.g. https://gateway.cyxwiz.com)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l api-key -d 'API key (cyxk_live_...); prefer --api-key-stdin so it stays out of shell history' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l default-bucket -d 'Bucket used when a command names none' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l secret-store -d 'Where to keep secrets: auto, keyring or file' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l grpc-url -d 'Gateway gRPC URL (asked from the gateway when unset)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l api-key-stdin -d 'Read the API key from the first line of stdin'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand configure" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -l email -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -l password-stdin -d 'Read the password from the first line of stdin'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand signup" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -l email -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -l password-stdin -d 'Read the password from the first line of stdin'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand login" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand logout" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand logout" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand logout" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand logout" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand logout" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand logout" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand logout" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -f -a "create" -d 'Create an API key; its secret is shown once'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -f -a "list" -d 'List API keys'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -f -a "revoke" -d 'Revoke an API key'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and not __fish_seen_subcommand_from create list revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -l name -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -l expires -d 'Expiry (RFC 3339)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -l read-only -d 'Read-only key'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from list" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from list" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from list" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from list" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from list" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from revoke" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from revoke" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create an API key; its secret is shown once'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "list" -d 'List API keys'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke an API key'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -l profile -d 'Erasure profile: basic, standard, high-durability, extreme, efficient' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -l ec -d 'Custom erasure coding, data+parity (e.g. 8+6)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -l public -d 'Anyone may read objects in the bucket'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand mb" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rb" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rb" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rb" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rb" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rb" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rb" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rb" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -s l -l long -d 'Long form: size, date, encryption'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -s r -l recursive -d 'Everything under the prefix, not just one level'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand ls" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -s b -l bucket -d 'Destination bucket (default: the profile\'s default bucket)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -s k -l key -d 'Object key (one file or stdin), or the key prefix for a directory' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -l profile -d 'Erasure profile for these objects (default: the bucket\'s)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -l ec -d 'Custom erasure coding data+parity' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -l content-type -d 'Content-Type (default: from the file extension)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -l no-compress -d 'Store without trying compression'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand upload" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -s k -l key -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -s o -l output -d 'Output file or directory, or `-` for stdout (default: the key\'s file name here)' -r -F
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -l range -d 'Only bytes START-END (inclusive, as in HTTP Range) or START- ; fetches only the chunks the range touches' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand download" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand cat" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand cat" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand cat" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand cat" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand cat" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand cat" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand cat" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -s b -l bucket -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -s k -l key -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -s r -l recursive -d 'Delete every object under the prefix'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand rm" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand stat" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand stat" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand stat" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand stat" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand stat" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand stat" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand stat" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand status" -s b -l bucket -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand status" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand status" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand status" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand status" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand status" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand status" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand status" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -f -a "run" -d 'Run a storage node until interrupted'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and not __fish_seen_subcommand_from run help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -s c -l config -d 'Path to node.toml (optional; every setting has a default)' -r -F
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l id -d 'Node id' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l type -d 'miner | volunteer | enterprise' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l storage-path -d 'Data directory' -r -F
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l capacity-gb -d 'Capacity in GB' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l read-cache-mb -d 'Read cache for shards in MiB, 0 for none' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l min-free-mb -d 'Disk space kept free in MiB: new shards are refused below it' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l backend -d 'rocksdb | memory' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l grpc-host -d 'gRPC listen host' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l grpc-port -d 'gRPC listen port, 0 for any free port' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l advertise-address -d 'Address to advertise to the gateway' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l gateway-url -d 'Gateway NodeService URL' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l gateway-public-key -d 'Gateway grant-signing public key, hex' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l metrics-port -d 'Prometheus port, 0 disables' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l log-level -d 'Log level or filter' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l log-json -d 'Log as JSON lines'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run a storage node until interrupted'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -f -a "run" -d 'Run a gateway until interrupted'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and not __fish_seen_subcommand_from run help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -s c -l config -d 'Path to gateway.toml (optional; every setting has a default)' -r -F
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l host -d 'Bind address' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l port -d 'HTTP (S3, REST) port' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l grpc-port -d 'gRPC port (NodeService, GatewayService)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l data-dir -d 'Data directory (embedded database, gateway key)' -r -F
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l database-url -d 'PostgreSQL URL (postgres://...) or sqlite:// URL; default: SQLite in the data directory' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l redis-url -d 'Accepted for compatibility; unused' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l jwt-secret -d 'Secret that signs access tokens (required outside --dev)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l solana-rpc-url -d 'Solana RPC endpoint' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l public-url -d 'Public URL of this gateway\'s HTTP API, as clients reach it' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l default-quota-bytes -d 'Default storage quota of new accounts, bytes' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l chunk-size-bytes -d 'Chunk size of uploads through the S3 API, bytes' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l node-offline-threshold-secs -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l node-drain-threshold-secs -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l node-remove-threshold-secs -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l node-recovery-quarantine-secs -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l node-monitor-interval-secs -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l log-level -d 'Log level or filter' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l dev -d 'Development mode: allows the sample or an empty JWT secret'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l log-json -d 'Log as JSON lines'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run a gateway until interrupted'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand gateway; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l data-dir -d 'Where the network keeps its data (default: ~/.cyxcloud/dev)' -r -F
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l nodes -d 'Number of storage nodes (8+6 needs 14)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l port -d 'Gateway HTTP port (0: any free port)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l grpc-port -d 'Gateway gRPC port (0: any free port)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l chunk-size -d 'Chunk size in bytes for new uploads (default: the gateway\'s, 64 MiB)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l no-configure -d 'Do not write the CLI profile'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand dev" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand completions" -l config-profile -d 'Configuration profile to use [env: CYXCLOUD_PROFILE]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand completions" -l gateway -d 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand completions" -l max-connections -d 'Upper bound on concurrent shard transfers (adapts below it to the link)' -r
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand completions" -s q -l quiet -d 'No progress bars or informational messages'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand completions" -l json -d 'Machine-readable JSON output (listings and status)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand completions" -s h -l help -d 'Print help'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand completions" -s V -l version -d 'Print version'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "configure" -d 'Save the gateway URL and API key (interactive, or entirely by flags)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "signup" -d 'Create an account and store an API key for this machine'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "login" -d 'Log in and store an API key for this machine'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "logout" -d 'Forget this profile\'s stored API key, session and cached key'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "keys" -d 'Manage API keys'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "mb" -d 'Make a bucket'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "rb" -d 'Remove an empty bucket'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "ls" -d 'List buckets, or objects under cyx://bucket/prefix'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "upload" -d 'Upload files, directories (recursively) or stdin (`-`)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "download" -d 'Download an object to a file or stdout'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "cat" -d 'Write an object to stdout'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "rm" -d 'Delete an object, or everything under a prefix with --recursive'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "stat" -d 'Show an object\'s details'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "status" -d 'Storage used against the quota, for the account or one bucket'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "node" -d 'Run a storage node'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "gateway" -d 'Run a gateway'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "dev" -d 'Start a complete local network (gateway + 14 nodes) and configure this CLI for it'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and not __fish_seen_subcommand_from configure signup login logout keys mb rb ls upload download cat rm stat status node gateway dev completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "create" -d 'Create an API key; its secret is shown once'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "list" -d 'List API keys'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "revoke" -d 'Revoke an API key'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and __fish_seen_subcommand_from node" -f -a "run" -d 'Run a storage node until interrupted'
complete -c cyxcloud -n "__fish_cyxcloud_using_subcommand help; and __fish_seen_subcommand_from gateway" -f -a "run" -d 'Run a gateway until interrupted'
