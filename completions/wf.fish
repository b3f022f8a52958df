# fish completion for wf, the workflow runner.
#
# Install as wf.fish in a fish completions directory (cmake --install puts it in
# share/fish/vendor_completions.d), or load it with:  wf completion fish | source
# Workflow names, job names and run ids come from the hidden `wf __complete` command, which
# is given the --conf and --state-dir options already on the command line.
# src/cli/completion.cpp holds a byte-identical copy of this file: edit both.

# Options that take a value (their value is not a positional argument).
set -g __wf_value_opts --conf --state-dir --color -p --param --params-file -j --jobs --timeout --job \
    --exclude --max-legs --kill-grace --from --tag --status --since --limit --attempt --format --wait \
    --keep-days --keep-runs --at --type --catchup --window --now --next --release

function __wf_tilde --description 'expand a leading ~'
    string replace -r '^~(?=/|$)' -- $HOME $argv[1]
end

function __wf_values --description 'values from wf __complete KIND [ARG]'
    set -l tokens (commandline -opc)
    set -l globals
    set -l n (count $tokens)
    for i in (seq 2 $n)
        switch $tokens[$i]
            case --conf --state-dir
                if test $i -lt $n
                    set -a globals $tokens[$i] (__wf_tilde $tokens[(math $i + 1)])
                end
            case '--conf=*' '--state-dir=*'
                set -a globals (string split -m 1 = -- $tokens[$i])[1] (__wf_tilde (string split -m 1 = -- $tokens[$i])[2])
        end
    end
    set -l bin (__wf_tilde $tokens[1])
    command -q $bin; or return 0
    command $bin $globals __complete $argv 2>/dev/null
end

function __wf_args --description 'the command name and positional arguments before the cursor'
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for t in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $t
            if contains -- $t $__wf_value_opts
                set skip 1
            end
            continue
        end
        echo $t
    end
end

function __wf_needs_command --description 'no command name yet'
    set -l args (__wf_args)
    test (count $args) -eq 0
end

function __wf_using --description 'the command is $argv[1] (and $argv[2] positional arguments are given)'
    set -l args (__wf_args)
    test (count $args) -ge 1; or return 1
    test "$args[1]" = "$argv[1]"; or return 1
    set -q argv[2]; or return 0
    test (math (count $args) - 1) -eq $argv[2]
end

function __wf_arg --description 'the Nth positional argument of the command'
    set -l args (__wf_args)
    set -l i (math $argv[1] + 1)
    if test (count $args) -ge $i
        __wf_tilde $args[$i]
    end
end

function __wf_targets --description 'workflow names and workflow files'
    __wf_values workflows
    __fish_complete_suffix .yml
    __fish_complete_suffix .yaml
end

complete -c wf -f

# Global options (accepted before or after the command name).
complete -c wf -s h -l help -d 'Show help and exit'
complete -c wf -n __wf_needs_command -l version -d 'Show the version and exit'
complete -c wf -l conf -x -a '(__fish_complete_directories)' -d 'Config directory to search for workflows'
complete -c wf -l state-dir -x -a '(__fish_complete_directories)' -d 'Directory of the state file'
complete -c wf -s q -l quiet -d 'Print nothing on success; a short summary on failure'
complete -c wf -s v -l verbose -d 'More diagnostics on stderr'
complete -c wf -l json -d 'JSON output'
complete -c wf -l color -x -a 'auto always never' -d 'Colour output'

# Commands.
complete -c wf -n __wf_needs_command -a run -d 'Run a workflow now'
complete -c wf -n __wf_needs_command -a rerun -d 'Run again what did not succeed in a stored run'
complete -c wf -n __wf_needs_command -a validate -d 'Check workflow files without running anything'
complete -c wf -n __wf_needs_command -a list -d 'List the workflows in the config path'
complete -c wf -n __wf_needs_command -a runs -d 'Run history from the state file'
complete -c wf -n __wf_needs_command -a show -d 'Show one run'
complete -c wf -n __wf_needs_command -a logs -d 'Print the captured output of a run'
complete -c wf -n __wf_needs_command -a graph -d 'Print the job graph as mermaid or dot'
complete -c wf -n __wf_needs_command -a cancel -d 'Cancel a running run from another shell'
complete -c wf -n __wf_needs_command -a gc -d 'Delete old runs and their logs from the state file'
complete -c wf -n __wf_needs_command -a release -d 'Run a workflow for one logical minute'
complete -c wf -n __wf_needs_command -a tick -d 'Release every scheduled workflow that is due'
complete -c wf -n __wf_needs_command -a schedule -d 'Next fire times of the schedules'
complete -c wf -n __wf_needs_command -a audit -d 'Audit records of releases and misfires'
complete -c wf -n __wf_needs_command -a completion -d 'Print a shell completion script'
complete -c wf -n __wf_needs_command -a version -d 'Show the version of wf'

# Options shared by run and rerun.
for __wf_cmd in run rerun
    complete -c wf -n "__wf_using $__wf_cmd" -s p -l param -x -d 'Set a param NAME=VALUE'
    complete -c wf -n "__wf_using $__wf_cmd" -l params-file -r -F -d 'Read params from a JSON or YAML map'
    complete -c wf -n "__wf_using $__wf_cmd" -s j -l jobs -x -d 'Job instances to run at once'
    complete -c wf -n "__wf_using $__wf_cmd" -l timeout -x -d 'Timeout of the run in seconds'
    complete -c wf -n "__wf_using $__wf_cmd" -l fail-fast -d 'Cancel everything after the first failed job'
    complete -c wf -n "__wf_using $__wf_cmd" -l max-legs -x -d 'Most matrix legs allowed in one job'
    complete -c wf -n "__wf_using $__wf_cmd" -l kill-grace -x -d 'Seconds between SIGTERM and SIGKILL'
end
set -e __wf_cmd

# run
complete -c wf -n '__wf_using run 0' -a '(__wf_targets)'
complete -c wf -n '__wf_using run 1' -a '(__wf_values workflows (__wf_arg 1))'
complete -c wf -n '__wf_using run' -l job -x -a '(__wf_values jobs (__wf_arg 1))' -d 'Run only this job and what it needs'
complete -c wf -n '__wf_using run' -l exclude -x -a '(__wf_values jobs (__wf_arg 1))' -d 'Leave this job out'
complete -c wf -n '__wf_using run' -l dry-run -d 'Print the plan and run nothing'

# rerun
complete -c wf -n '__wf_using rerun 0' -k -a '(__wf_values runs)'
complete -c wf -n '__wf_using rerun' -l use-current-spec -d 'Use the workflow file as it is now'
complete -c wf -n '__wf_using rerun' -l from -x -a '(__wf_values jobs (__wf_arg 1))' -d 'Also run this job and everything downstream'

# validate
complete -c wf -n '__wf_using validate' -a '(__fish_complete_suffix .yml; __fish_complete_suffix .yaml)'

# list
complete -c wf -n '__wf_using list' -l tag -x -d 'Only workflows with this tag'

# runs
complete -c wf -n '__wf_using runs 0' -a '(__wf_values workflows)'
complete -c wf -n '__wf_using runs' -l status -x -a 'SUCCESS FAILED SKIP CANCEL WAIT' -d 'Only runs with this status'
complete -c wf -n '__wf_using runs' -l since -x -d 'Only runs started within this long (7d, 12h, 30m)'
complete -c wf -n '__wf_using runs' -l limit -x -d 'At most this many runs (0 for all)'

# show
complete -c wf -n '__wf_using show 0' -k -a '(__wf_values runs)'

# logs
complete -c wf -n '__wf_using logs 0' -k -a '(__wf_values runs)'
complete -c wf -n '__wf_using logs 1' -a '(__wf_values jobs (__wf_arg 1))'
complete -c wf -n '__wf_using logs' -l attempt -x -d 'Logs of attempt N'
complete -c wf -n '__wf_using logs' -s f -l follow -d 'Keep printing output until the run ends'

# graph
complete -c wf -n '__wf_using graph 0' -a '(__wf_targets)'
complete -c wf -n '__wf_using graph 1' -a '(__wf_values workflows (__wf_arg 1))'
complete -c wf -n '__wf_using graph' -l format -x -a 'mermaid dot' -d 'Output format'

# cancel
complete -c wf -n '__wf_using cancel 0' -k -a '(__wf_values runs)'
complete -c wf -n '__wf_using cancel' -l wait -x -d 'Seconds to wait for the run to stop'

# gc
complete -c wf -n '__wf_using gc 0' -a '(__wf_values workflows)'
complete -c wf -n '__wf_using gc' -l keep-days -x -d 'Keep runs newer than N days'
complete -c wf -n '__wf_using gc' -l keep-runs -x -d 'Keep the newest N runs of each workflow'

# release
complete -c wf -n '__wf_using release 0' -a '(__wf_targets)'
complete -c wf -n '__wf_using release' -l at -x -d 'The logical minute, ISO 8601'
complete -c wf -n '__wf_using release' -l type -x -a 'normal force dryrun rerun event' -d 'Release type'
complete -c wf -n '__wf_using release' -l exclude -x -a '(__wf_values jobs (__wf_arg 1))' -d 'Leave this job out'
complete -c wf -n '__wf_using release' -s p -l param -x -d 'Set a param NAME=VALUE'
complete -c wf -n '__wf_using release' -l params-file -r -F -d 'Read params from a JSON or YAML map'
complete -c wf -n '__wf_using release' -s j -l jobs -x -d 'Job instances to run at once'
complete -c wf -n '__wf_using release' -l timeout -x -d 'Timeout of the run in seconds'

# tick
complete -c wf -n '__wf_using tick' -l catchup -x -a 'none latest all' -d 'Missed minutes'
complete -c wf -n '__wf_using tick' -l window -x -d 'How far back to look for missed minutes (1d, 12h)'
complete -c wf -n '__wf_using tick' -l now -x -d 'Use this time instead of the clock'
complete -c wf -n '__wf_using tick' -s j -l jobs -x -d 'Releases to run at once'

# schedule
complete -c wf -n '__wf_using schedule 0' -a '(__wf_values workflows)'
complete -c wf -n '__wf_using schedule' -l next -x -d 'How many fire times to show'
complete -c wf -n '__wf_using schedule' -l from -x -d 'Start from this time instead of now'

# audit
complete -c wf -n '__wf_using audit 0' -a '(__wf_values workflows)'
complete -c wf -n '__wf_using audit' -l release -x -d 'Only the release of this minute'
complete -c wf -n '__wf_using audit' -l limit -x -d 'At most N records (0 for all)'

# completion
complete -c wf -n '__wf_using completion 0' -a 'bash zsh fish'
