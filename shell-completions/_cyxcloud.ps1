
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'cyxcloud' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'cyxcloud'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'cyxcloud' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('configure', 'configure', [CompletionResultType]::ParameterValue, 'Save the gateway URL and API key (interactive, or entirely by flags)')
            [CompletionResult]::new('signup', 'signup', [CompletionResultType]::ParameterValue, 'Create an account and store an API key for this machine')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in and store an API key for this machine')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget this profile''s stored API key, session and cached key')
            [CompletionResult]::new('keys', 'keys', [CompletionResultType]::ParameterValue, 'Manage API keys')
            [CompletionResult]::new('mb', 'mb', [CompletionResultType]::ParameterValue, 'Make a bucket')
            [CompletionResult]::new('rb', 'rb', [CompletionResultType]::ParameterValue, 'Remove an empty bucket')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List buckets, or objects under cyx://bucket/prefix')
            [CompletionResult]::new('upload', 'upload', [CompletionResultType]::ParameterValue, 'Upload files, directories (recursively) or stdin (`-`)')
            [CompletionResult]::new('download', 'download', [CompletionResultType]::ParameterValue, 'Download an object to a file or stdout')
            [CompletionResult]::new('cat', 'cat', [CompletionResultType]::ParameterValue, 'Write an object to stdout')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Delete an object, or everything under a prefix with --recursive')
            [CompletionResult]::new('stat', 'stat', [CompletionResultType]::ParameterValue, 'Show an object''s details')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Storage used against the quota, for the account or one bucket')
            [CompletionResult]::new('node', 'node', [CompletionResultType]::ParameterValue, 'Run a storage node')
            [CompletionResult]::new('gateway', 'gateway', [CompletionResultType]::ParameterValue, 'Run a gateway')
            [CompletionResult]::new('dev', 'dev', [CompletionResultType]::ParameterValue, 'Start a complete local network (gateway + 14 nodes) and configure this CLI for it')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cyxcloud;configure' {
            [CompletionResult]::new('--gateway-url', '--gateway-url', [CompletionResultType]::ParameterName, 'Gateway URL (e.g. https://gateway.cyxwiz.com)')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'API key (cyxk_live_...); prefer --api-key-stdin so it stays out of shell history')
            [CompletionResult]::new('--default-bucket', '--default-bucket', [CompletionResultType]::ParameterName, 'Bucket used when a command names none')
            [CompletionResult]::new('--secret-store', '--secret-store', [CompletionResultType]::ParameterName, 'Where to keep secrets: auto, keyring or file')
            [CompletionResult]::new('--grpc-url', '--grpc-url', [CompletionResultType]::ParameterName, 'Gateway gRPC URL (asked from the gateway when unset)')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--api-key-stdin', '--api-key-stdin', [CompletionResultType]::ParameterName, 'Read the API key from the first line of stdin')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;signup' {
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'email')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of stdin')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;login' {
            [CompletionResult]::new('--email', '--email', [CompletionResultType]::ParameterName, 'email')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of stdin')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;logout' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;keys' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an API key; its secret is shown once')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List API keys')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke an API key')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cyxcloud;keys;create' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'name')
            [CompletionResult]::new('--expires', '--expires', [CompletionResultType]::ParameterName, 'Expiry (RFC 3339)')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--read-only', '--read-only', [CompletionResultType]::ParameterName, 'Read-only key')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;keys;list' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;keys;revoke' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;keys;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an API key; its secret is shown once')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List API keys')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke an API key')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cyxcloud;keys;help;create' {
            break
        }
        'cyxcloud;keys;help;list' {
            break
        }
        'cyxcloud;keys;help;revoke' {
            break
        }
        'cyxcloud;keys;help;help' {
            break
        }
        'cyxcloud;mb' {
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Erasure profile: basic, standard, high-durability, extreme, efficient')
            [CompletionResult]::new('--ec', '--ec', [CompletionResultType]::ParameterName, 'Custom erasure coding, data+parity (e.g. 8+6)')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--public', '--public', [CompletionResultType]::ParameterName, 'Anyone may read objects in the bucket')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;rb' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;ls' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Long form: size, date, encryption')
            [CompletionResult]::new('--long', '--long', [CompletionResultType]::ParameterName, 'Long form: size, date, encryption')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Everything under the prefix, not just one level')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Everything under the prefix, not just one level')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;upload' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'Destination bucket (default: the profile''s default bucket)')
            [CompletionResult]::new('--bucket', '--bucket', [CompletionResultType]::ParameterName, 'Destination bucket (default: the profile''s default bucket)')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Object key (one file or stdin), or the key prefix for a directory')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Object key (one file or stdin), or the key prefix for a directory')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Erasure profile for these objects (default: the bucket''s)')
            [CompletionResult]::new('--ec', '--ec', [CompletionResultType]::ParameterName, 'Custom erasure coding data+parity')
            [CompletionResult]::new('--content-type', '--content-type', [CompletionResultType]::ParameterName, 'Content-Type (default: from the file extension)')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--no-compress', '--no-compress', [CompletionResultType]::ParameterName, 'Store without trying compression')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;download' {
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'k')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'key')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output file or directory, or `-` for stdout (default: the key''s file name here)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output file or directory, or `-` for stdout (default: the key''s file name here)')
            [CompletionResult]::new('--range', '--range', [CompletionResultType]::ParameterName, 'Only bytes START-END (inclusive, as in HTTP Range) or START- ; fetches only the chunks the range touches')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;cat' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;rm' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'b')
            [CompletionResult]::new('--bucket', '--bucket', [CompletionResultType]::ParameterName, 'bucket')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'k')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'key')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Delete every object under the prefix')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Delete every object under the prefix')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;stat' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;status' {
            [CompletionResult]::new('-b', '-b', [CompletionResultType]::ParameterName, 'b')
            [CompletionResult]::new('--bucket', '--bucket', [CompletionResultType]::ParameterName, 'bucket')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;node' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a storage node until interrupted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cyxcloud;node;run' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Path to node.toml (optional; every setting has a default)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Path to node.toml (optional; every setting has a default)')
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'Node id')
            [CompletionResult]::new('--type', '--type', [CompletionResultType]::ParameterName, 'miner | volunteer | enterprise')
            [CompletionResult]::new('--storage-path', '--storage-path', [CompletionResultType]::ParameterName, 'Data directory')
            [CompletionResult]::new('--capacity-gb', '--capacity-gb', [CompletionResultType]::ParameterName, 'Capacity in GB')
            [CompletionResult]::new('--read-cache-mb', '--read-cache-mb', [CompletionResultType]::ParameterName, 'Read cache for shards in MiB, 0 for none')
            [CompletionResult]::new('--min-free-mb', '--min-free-mb', [CompletionResultType]::ParameterName, 'Disk space kept free in MiB: new shards are refused below it')
            [CompletionResult]::new('--backend', '--backend', [CompletionResultType]::ParameterName, 'rocksdb | memory')
            [CompletionResult]::new('--grpc-host', '--grpc-host', [CompletionResultType]::ParameterName, 'gRPC listen host')
            [CompletionResult]::new('--grpc-port', '--grpc-port', [CompletionResultType]::ParameterName, 'gRPC listen port, 0 for any free port')
            [CompletionResult]::new('--advertise-address', '--advertise-address', [CompletionResultType]::ParameterName, 'Address to advertise to the gateway')
            [CompletionResult]::new('--gateway-url', '--gateway-url', [CompletionResultType]::ParameterName, 'Gateway NodeService URL')
            [CompletionResult]::new('--gateway-public-key', '--gateway-public-key', [CompletionResultType]::ParameterName, 'Gateway grant-signing public key, hex')
            [CompletionResult]::new('--metrics-port', '--metrics-port', [CompletionResultType]::ParameterName, 'Prometheus port, 0 disables')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level or filter')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--log-json', '--log-json', [CompletionResultType]::ParameterName, 'Log as JSON lines')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;node;help' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a storage node until interrupted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cyxcloud;node;help;run' {
            break
        }
        'cyxcloud;node;help;help' {
            break
        }
        'cyxcloud;gateway' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a gateway until interrupted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cyxcloud;gateway;run' {
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Path to gateway.toml (optional; every setting has a default)')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Path to gateway.toml (optional; every setting has a default)')
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Bind address')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'HTTP (S3, REST) port')
            [CompletionResult]::new('--grpc-port', '--grpc-port', [CompletionResultType]::ParameterName, 'gRPC port (NodeService, GatewayService)')
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Data directory (embedded database, gateway key)')
            [CompletionResult]::new('--database-url', '--database-url', [CompletionResultType]::ParameterName, 'PostgreSQL URL (postgres://...) or sqlite:// URL; default: SQLite in the data directory')
            [CompletionResult]::new('--redis-url', '--redis-url', [CompletionResultType]::ParameterName, 'Accepted for compatibility; unused')
            [CompletionResult]::new('--jwt-secret', '--jwt-secret', [CompletionResultType]::ParameterName, 'Secret that signs access tokens (required outside --dev)')
            [CompletionResult]::new('--solana-rpc-url', '--solana-rpc-url', [CompletionResultType]::ParameterName, 'Solana RPC endpoint')
            [CompletionResult]::new('--public-url', '--public-url', [CompletionResultType]::ParameterName, 'Public URL of this gateway''s HTTP API, as clients reach it')
            [CompletionResult]::new('--default-quota-bytes', '--default-quota-bytes', [CompletionResultType]::ParameterName, 'Default storage quota of new accounts, bytes')
            [CompletionResult]::new('--chunk-size-bytes', '--chunk-size-bytes', [CompletionResultType]::ParameterName, 'Chunk size of uploads through the S3 API, bytes')
            [CompletionResult]::new('--node-offline-threshold-secs', '--node-offline-threshold-secs', [CompletionResultType]::ParameterName, 'node-offline-threshold-secs')
            [CompletionResult]::new('--node-drain-threshold-secs', '--node-drain-threshold-secs', [CompletionResultType]::ParameterName, 'node-drain-threshold-secs')
            [CompletionResult]::new('--node-remove-threshold-secs', '--node-remove-threshold-secs', [CompletionResultType]::ParameterName, 'node-remove-threshold-secs')
            [CompletionResult]::new('--node-recovery-quarantine-secs', '--node-recovery-quarantine-secs', [CompletionResultType]::ParameterName, 'node-recovery-quarantine-secs')
            [CompletionResult]::new('--node-monitor-interval-secs', '--node-monitor-interval-secs', [CompletionResultType]::ParameterName, 'node-monitor-interval-secs')
            [CompletionResult]::new('--log-level', '--log-level', [CompletionResultType]::ParameterName, 'Log level or filter')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--dev', '--dev', [CompletionResultType]::ParameterName, 'Development mode: allows the sample or an empty JWT secret')
            [CompletionResult]::new('--log-json', '--log-json', [CompletionResultType]::ParameterName, 'Log as JSON lines')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;gateway;help' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a gateway until interrupted')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cyxcloud;gateway;help;run' {
            break
        }
        'cyxcloud;gateway;help;help' {
            break
        }
        'cyxcloud;dev' {
            [CompletionResult]::new('--data-dir', '--data-dir', [CompletionResultType]::ParameterName, 'Where the network keeps its data (default: ~/.cyxcloud/dev)')
            [CompletionResult]::new('--nodes', '--nodes', [CompletionResultType]::ParameterName, 'Number of storage nodes (8+6 needs 14)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Gateway HTTP port (0: any free port)')
            [CompletionResult]::new('--grpc-port', '--grpc-port', [CompletionResultType]::ParameterName, 'Gateway gRPC port (0: any free port)')
            [CompletionResult]::new('--chunk-size', '--chunk-size', [CompletionResultType]::ParameterName, 'Chunk size in bytes for new uploads (default: the gateway''s, 64 MiB)')
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('--no-configure', '--no-configure', [CompletionResultType]::ParameterName, 'Do not write the CLI profile')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;completions' {
            [CompletionResult]::new('--config-profile', '--config-profile', [CompletionResultType]::ParameterName, 'Configuration profile to use [env: CYXCLOUD_PROFILE]')
            [CompletionResult]::new('--gateway', '--gateway', [CompletionResultType]::ParameterName, 'Gateway URL, overriding the profile [env: CYXCLOUD_GATEWAY]')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Upper bound on concurrent shard transfers (adapts below it to the link)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bars or informational messages')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Machine-readable JSON output (listings and status)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'cyxcloud;help' {
            [CompletionResult]::new('configure', 'configure', [CompletionResultType]::ParameterValue, 'Save the gateway URL and API key (interactive, or entirely by flags)')
            [CompletionResult]::new('signup', 'signup', [CompletionResultType]::ParameterValue, 'Create an account and store an API key for this machine')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Log in and store an API key for this machine')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget this profile''s stored API key, session and cached key')
            [CompletionResult]::new('keys', 'keys', [CompletionResultType]::ParameterValue, 'Manage API keys')
            [CompletionResult]::new('mb', 'mb', [CompletionResultType]::ParameterValue, 'Make a bucket')
            [CompletionResult]::new('rb', 'rb', [CompletionResultType]::ParameterValue, 'Remove an empty bucket')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List buckets, or objects under cyx://bucket/prefix')
            [CompletionResult]::new('upload', 'upload', [CompletionResultType]::ParameterValue, 'Upload files, directories (recursively) or stdin (`-`)')
            [CompletionResult]::new('download', 'download', [CompletionResultType]::ParameterValue, 'Download an object to a file or stdout')
            [CompletionResult]::new('cat', 'cat', [CompletionResultType]::ParameterValue, 'Write an object to stdout')
            [CompletionResult]::new('rm', 'rm', [CompletionResultType]::ParameterValue, 'Delete an object, or everything under a prefix with --recursive')
            [CompletionResult]::new('stat', 'stat', [CompletionResultType]::ParameterValue, 'Show an object''s details')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Storage used against the quota, for the account or one bucket')
            [CompletionResult]::new('node', 'node', [CompletionResultType]::ParameterValue, 'Run a storage node')
            [CompletionResult]::new('gateway', 'gateway', [CompletionResultType]::ParameterValue, 'Run a gateway')
            [CompletionResult]::new('dev', 'dev', [CompletionResultType]::ParameterValue, 'Start a complete local network (gateway + 14 nodes) and configure this CLI for it')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cyxcloud;help;configure' {
            break
        }
        'cyxcloud;help;signup' {
            break
        }
        'cyxcloud;help;login' {
            break
        }
        'cyxcloud;help;logout' {
            break
        }
        'cyxcloud;help;keys' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create an API key; its secret is shown once')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List API keys')
            [CompletionResult]::new('revoke', 'revoke', [CompletionResultType]::ParameterValue, 'Revoke an API key')
            break
        }
        'cyxcloud;help;keys;create' {
            break
        }
        'cyxcloud;help;keys;list' {
            break
        }
        'cyxcloud;help;keys;revoke' {
            break
        }
        'cyxcloud;help;mb' {
            break
        }
        'cyxcloud;help;rb' {
            break
        }
        'cyxcloud;help;ls' {
            break
        }
        'cyxcloud;help;upload' {
            break
        }
        'cyxcloud;help;download' {
            break
        }
        'cyxcloud;help;cat' {
            break
        }
        'cyxcloud;help;rm' {
            break
        }
        'cyxcloud;help;stat' {
            break
        }
        'cyxcloud;help;status' {
            break
        }
        'cyxcloud;help;node' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a storage node until interrupted')
            break
        }
        'cyxcloud;help;node;run' {
            break
        }
        'cyxcloud;help;gateway' {
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a gateway until interrupted')
            break
        }
        'cyxcloud;help;gateway;run' {
            break
        }
        'cyxcloud;help;dev' {
            break
        }
        'cyxcloud;help;completions' {
            break
        }
        'cyxcloud;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
