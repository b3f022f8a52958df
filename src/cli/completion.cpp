// `wf completion SHELL` prints a shell completion script, and the hidden `wf __complete KIND
// [ARG]` gives those scripts their dynamic values, one per line:
//   workflows         workflow names in the config path
//   workflows FILE    workflow names in that file
//   jobs TARGET       job names of a workflow file, of a workflow name in the config path, or
//                     of the workflow a stored run (id or unique prefix) was made from
//   runs              run ids in the state file, newest first
// `__complete` prints nothing on errors and always exits 0: a tab press must never print an
// error. It does not create a state file that does not exist, and opens an existing one
// without crash recovery (a tab press should not write to the state file).
//
// The scripts below are byte-identical copies of completions/wf.bash, completions/_wf and
// completions/wf.fish (which `cmake --install` installs); tests/cli/test_docs.sh checks that
// `wf completion SHELL` prints exactly those files, so edit both copies together.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "wf/yaml_loader.hpp"

namespace wf::cli {

namespace {

// completions/wf.bash
const char* const kBash = R"WFSCRIPT(# bash completion for wf, the workflow runner                    -*- shell-script -*-
#
# Install as share/bash-completion/completions/wf (cmake --install does), or load it in
# ~/.bashrc with:  source <(wf completion bash)
# Workflow names, job names and run ids come from the hidden `wf __complete` command, which
# is given the --conf and --state-dir options already on the command line.
# src/cli/completion.cpp holds a byte-identical copy of this file: edit both.

# Options that take a value (their value is not a positional argument).
_wf_value_opts=" --conf --state-dir --color -p --param --params-file -j --jobs --timeout --job --exclude --max-legs --kill-grace --from --tag --status --since --limit --attempt --format --wait --keep-days --keep-runs --at --type --catchup --window --now --next --release "

_wf_tilde() {
    local w=$1
    [[ $w == "~" ]] && w=$HOME
    [[ $w == "~/"* ]] && w=$HOME/${w#"~/"}
    printf '%s\n' "$w"
}

# _wf_values KIND [ARG]: one value a line from `wf __complete KIND [ARG]`.
_wf_values() {
    local bin i w
    local -a globals=()
    bin=$(_wf_tilde "${COMP_WORDS[0]}")
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            --conf | --state-dir)
                if [[ ${COMP_WORDS[i + 1]-} == "=" ]]; then
                    ((i + 2 < COMP_CWORD)) && globals+=("$w" "$(_wf_tilde "${COMP_WORDS[i + 2]-}")")
                else
                    ((i + 1 < COMP_CWORD)) && globals+=("$w" "$(_wf_tilde "${COMP_WORDS[i + 1]-}")")
                fi
                ;;
        esac
    done
    "$bin" "${globals[@]}" __complete "$@" 2>/dev/null
}

# _wf_add WORDS...: adds the words that start with $cur.
_wf_add() {
    local w
    for w in "$@"; do
        [[ $w == "$cur"* ]] && COMPREPLY+=("$w")
    done
}

# _wf_add_lines: adds the lines of stdin that start with $cur.
_wf_add_lines() {
    local w
    while IFS= read -r w; do
        [[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("$w")
    done
}

# _wf_files [all]: directories and *.yml/*.yaml files (every file with "all").
_wf_files() {
    local f
    compopt -o filenames 2>/dev/null
    while IFS= read -r f; do
        if [[ ${1-} == all || -d $f || $f == *.yml || $f == *.yaml ]]; then
            COMPREPLY+=("$f")
        fi
    done < <(compgen -f -- "$cur")
}

_wf_dirs() {
    compopt -o filenames 2>/dev/null
    local f
    while IFS= read -r f; do COMPREPLY+=("$f"); done < <(compgen -d -- "$cur")
}

_wf() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev="" cmd="" i w
    local -a pos=()
    COMPREPLY=()
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    # bash splits --opt=value at the "=": see through it.
    if [[ $cur == "=" ]]; then
        cur=""
    elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi

    # The command name and the positional arguments before the cursor.
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == "=" ]]; then
            ((i++))
            continue
        fi
        if [[ $w == -* ]]; then
            if [[ $_wf_value_opts == *" $w "* ]]; then
                if [[ ${COMP_WORDS[i + 1]-} == "=" ]]; then ((i += 2)); else ((i += 1)); fi
            fi
            continue
        fi
        if [[ -z $cmd ]]; then cmd=$w; else pos+=("$w"); fi
    done

    # The value of an option.
    case $prev in
        --conf | --state-dir)
            _wf_dirs
            return 0
            ;;
        --color)
            _wf_add auto always never
            return 0
            ;;
        --params-file)
            _wf_files all
            return 0
            ;;
        --format)
            _wf_add mermaid dot
            return 0
            ;;
        --status)
            _wf_add SUCCESS FAILED SKIP CANCEL WAIT
            return 0
            ;;
        --type)
            _wf_add normal force dryrun rerun event
            return 0
            ;;
        --catchup)
            _wf_add none latest all
            return 0
            ;;
        --job | --exclude | --from)
            # --from of `wf schedule` is a time; of `wf rerun`, a job.
            [[ $cmd == schedule ]] && return 0
            [[ -n ${pos[0]-} ]] && _wf_add_lines < <(_wf_values jobs "$(_wf_tilde "${pos[0]-}")")
            return 0
            ;;
        -p | --param | -j | --jobs | --timeout | --max-legs | --kill-grace | --tag | --since | --limit | \
            --attempt | --wait | --keep-days | --keep-runs | --at | --window | --now | --next | --release)
            return 0
            ;;
    esac

    if [[ $cur == -* ]]; then
        local globals="--conf --state-dir -q --quiet -v --verbose --json --color -h --help"
        case $cmd in
            "") _wf_add $globals --version ;;
            run) _wf_add $globals -p --param --params-file -j --jobs --timeout --fail-fast --job --exclude \
                --dry-run --max-legs --kill-grace ;;
            rerun) _wf_add $globals -p --param --params-file --use-current-spec --from -j --jobs --timeout \
                --fail-fast --kill-grace --max-legs ;;
            list) _wf_add $globals --tag ;;
            runs) _wf_add $globals --status --since --limit ;;
            logs) _wf_add $globals --attempt -f --follow ;;
            graph) _wf_add $globals --format ;;
            cancel) _wf_add $globals --wait ;;
            gc) _wf_add $globals --keep-days --keep-runs ;;
            release) _wf_add $globals --at --type --exclude -p --param --params-file -j --jobs --timeout ;;
            tick) _wf_add $globals --catchup --window --now -j --jobs ;;
            schedule) _wf_add $globals --next --from ;;
            audit) _wf_add $globals --release --limit ;;
            *) _wf_add $globals ;;
        esac
        return 0
    fi

    if [[ -z $cmd ]]; then
        _wf_add run rerun validate list runs show logs graph cancel gc release tick schedule audit completion version
        return 0
    fi

    case $cmd in
        run | graph)
            if ((${#pos[@]} == 0)); then
                _wf_add_lines < <(_wf_values workflows)
                _wf_files
            elif ((${#pos[@]} == 1)); then
                _wf_add_lines < <(_wf_values workflows "$(_wf_tilde "${pos[0]-}")")
            fi
            ;;
        rerun | show | cancel)
            ((${#pos[@]} == 0)) && _wf_add_lines < <(_wf_values runs)
            ;;
        logs)
            if ((${#pos[@]} == 0)); then
                _wf_add_lines < <(_wf_values runs)
            elif ((${#pos[@]} == 1)); then
                _wf_add_lines < <(_wf_values jobs "${pos[0]-}")
            fi
            ;;
        release)
            if ((${#pos[@]} == 0)); then
                _wf_add_lines < <(_wf_values workflows)
                _wf_files
            fi
            ;;
        runs | gc | schedule | audit)
            ((${#pos[@]} == 0)) && _wf_add_lines < <(_wf_values workflows)
            ;;
        validate)
            _wf_files
            ;;
        completion)
            ((${#pos[@]} == 0)) && _wf_add bash zsh fish
            ;;
    esac
    return 0
}

complete -F _wf wf
)WFSCRIPT";

// completions/_wf
const char* const kZsh = R"WFSCRIPT(#compdef wf
# zsh completion for wf, the workflow runner.
#
# Install as _wf in a directory of $fpath (cmake --install puts it in
# share/zsh/vendor-completions), or load it in ~/.zshrc after compinit with:
#   source <(wf completion zsh)
# Workflow names, job names and run ids come from the hidden `wf __complete` command, which
# is given the --conf and --state-dir options already on the command line.
# src/cli/completion.cpp holds a byte-identical copy of this file: edit both.

# Options that take a value (their value is not a positional argument).
_wf_value_opts=(--conf --state-dir --color -p --param --params-file -j --jobs --timeout --job --exclude
  --max-legs --kill-grace --from --tag --status --since --limit --attempt --format --wait --keep-days
  --keep-runs --at --type --catchup --window --now --next --release)

# _wf_values KIND [ARG]: one value a line from `wf __complete KIND [ARG]`.
_wf_values() {
  local -a globals
  local i w
  for (( i = 2; i <= $#_wf_line; i++ )); do
    w=$_wf_line[i]
    case $w in
      --conf|--state-dir)
        (( i + 1 < _wf_current )) && globals+=($w ${_wf_line[i+1]/#\~/$HOME}) ;;
      --conf=*|--state-dir=*)
        (( i < _wf_current )) && globals+=(${w%%=*} ${${w#*=}/#\~/$HOME}) ;;
    esac
  done
  ${_wf_line[1]/#\~/$HOME} $globals __complete "$@" 2>/dev/null
}

# _wf_pos N: the Nth positional argument before the cursor (words[1] is the command name).
_wf_pos() {
  local i n=0 w
  for (( i = 2; i < CURRENT; i++ )); do
    w=$words[i]
    if [[ $w == -* ]]; then
      [[ $w != *=* && ${_wf_value_opts[(Ie)$w]} -gt 0 ]] && (( i++ ))
      continue
    fi
    if (( ++n == $1 )); then
      print -r -- ${w/#\~/$HOME}
      return 0
    fi
  done
  return 1
}

_wf_workflows() {
  local -a names expl
  names=(${(f)"$(_wf_values workflows)"})
  _wanted workflows expl workflow compadd "$@" -a names
}

_wf_targets() {
  _alternative 'workflows:workflow:_wf_workflows' 'files:workflow file:_files -g "*.(yml|yaml)(-.)"'
}

_wf_file_workflows() {
  local target
  local -a names expl
  target=$(_wf_pos 1) || return 1
  names=(${(f)"$(_wf_values workflows $target)"})
  _wanted workflows expl 'workflow of the file' compadd "$@" -a names
}

_wf_jobs() {
  local target
  local -a names expl
  target=$(_wf_pos 1) || return 1
  names=(${(f)"$(_wf_values jobs $target)"})
  _wanted jobs expl job compadd "$@" -a names
}

_wf_runs() {
  local -a ids expl
  ids=(${(f)"$(_wf_values runs)"})
  _wanted -V runs expl 'run id' compadd "$@" -a ids
}

_wf_commands() {
  local -a commands
  commands=(
    'run:run a workflow now'
    'rerun:run again what did not succeed in a stored run'
    'validate:check workflow files without running anything'
    'list:list the workflows in the config path'
    'runs:run history from the state file'
    'show:show one run'
    'logs:print the captured output of a run'
    'graph:print the job graph as mermaid or dot'
    'cancel:cancel a running run from another shell'
    'gc:delete old runs and their logs from the state file'
    'release:run a workflow for one logical minute'
    'tick:release every scheduled workflow that is due'
    'schedule:next fire times of the schedules'
    'audit:audit records of releases and misfires'
    'completion:print a shell completion script'
    'version:show the version of wf'
  )
  _describe -t commands 'wf command' commands
}

_wf() {
  local curcontext=$curcontext state state_descr line ret=1
  local -a _wf_line
  local _wf_current=$CURRENT
  _wf_line=("${words[@]}")
  typeset -A opt_args

  local -a globals
  globals=(
    '(- *)'{-h,--help}'[show help and exit]'
    '*--conf=[config directory to search for workflows]:directory:_files -/'
    '--state-dir=[directory of the state file]:directory:_files -/'
    '(-q --quiet)'{-q,--quiet}'[print nothing on success, a short summary on failure]'
    '*'{-v,--verbose}'[more diagnostics on stderr]'
    '--json[JSON output]'
    '--color=[colour output]:when:(auto always never)'
  )

  _arguments -C -s $globals \
    '(- *)--version[show the version and exit]' \
    ': :_wf_commands' \
    '*:: :->args' && ret=0

  if [[ $state == args ]]; then
    curcontext=${curcontext%:*:*}:wf-$words[1]:
    local -a run_opts
    run_opts=(
      '*'{-p+,--param=}'[set a param]:NAME=VALUE: '
      '--params-file=[read params from a JSON or YAML map]:file:_files'
      {-j+,--jobs=}'[job instances to run at once]:number: '
      '--timeout=[timeout of the run in seconds]:seconds: '
      '--fail-fast[cancel everything after the first failed job]'
      '--json[print the run result as JSON]'
      '--max-legs=[most matrix legs allowed in one job]:number: '
      '--kill-grace=[seconds between SIGTERM and SIGKILL]:seconds: '
    )
    case $words[1] in
      run)
        _arguments -s $globals $run_opts \
          '*--job=[run only this job and what it needs]:job:_wf_jobs' \
          '*--exclude=[leave this job out]:job:_wf_jobs' \
          '--dry-run[print the plan and run nothing]' \
          '1:workflow file or name:_wf_targets' \
          '2::workflow of the file:_wf_file_workflows' && ret=0
        ;;
      rerun)
        _arguments -s $globals $run_opts \
          '--use-current-spec[use the workflow file as it is now]' \
          '*--from=[also run this job and everything downstream of it]:job:_wf_jobs' \
          '1:run id:_wf_runs' && ret=0
        ;;
      validate)
        _arguments -s $globals '*:file or directory:_files -g "*.(yml|yaml)(-.)"' && ret=0
        ;;
      list)
        _arguments -s $globals '--tag=[only workflows with this tag]:tag: ' && ret=0
        ;;
      runs)
        _arguments -s $globals \
          '--status=[only runs with this status]:status:(SUCCESS FAILED SKIP CANCEL WAIT)' \
          '--since=[only runs started within this long]:age (7d, 12h, 30m): ' \
          '--limit=[at most this many runs]:number: ' \
          '1::workflow:_wf_workflows' && ret=0
        ;;
      show)
        _arguments -s $globals '1:run id:_wf_runs' && ret=0
        ;;
      logs)
        _arguments -s $globals \
          '--attempt=[logs of attempt N]:attempt: ' \
          '(-f --follow)'{-f,--follow}'[keep printing output until the run ends]' \
          '1:run id:_wf_runs' \
          '2::job:_wf_jobs' && ret=0
        ;;
      graph)
        _arguments -s $globals \
          '--format=[output format]:format:(mermaid dot)' \
          '1:workflow file or name:_wf_targets' \
          '2::workflow of the file:_wf_file_workflows' && ret=0
        ;;
      cancel)
        _arguments -s $globals '--wait=[seconds to wait for the run to stop]:seconds: ' \
          '1:run id:_wf_runs' && ret=0
        ;;
      gc)
        _arguments -s $globals \
          '--keep-days=[keep runs newer than N days]:days: ' \
          '--keep-runs=[keep the newest N runs of each workflow]:runs: ' \
          '1::workflow:_wf_workflows' && ret=0
        ;;
      release)
        _arguments -s $globals \
          '--at=[the logical minute, ISO 8601]:time: ' \
          '--type=[release type]:type:(normal force dryrun rerun event)' \
          '*--exclude=[leave this job out]:job:_wf_jobs' \
          '*'{-p+,--param=}'[set a param]:NAME=VALUE: ' \
          '--params-file=[read params from a JSON or YAML map]:file:_files' \
          {-j+,--jobs=}'[job instances to run at once]:number: ' \
          '--timeout=[timeout of the run in seconds]:seconds: ' \
          '--json[print the run result as JSON]' \
          '1:workflow name or file:_wf_targets' && ret=0
        ;;
      tick)
        _arguments -s $globals \
          '--catchup=[missed minutes]:mode:(none latest all)' \
          '--window=[how far back to look for missed minutes]:duration (1d, 12h): ' \
          '--now=[use this time instead of the clock]:time: ' \
          {-j+,--jobs=}'[releases to run at once]:number: ' && ret=0
        ;;
      schedule)
        _arguments -s $globals \
          '--next=[how many fire times to show]:number: ' \
          '--from=[start from this time instead of now]:time: ' \
          '1::workflow:_wf_workflows' && ret=0
        ;;
      audit)
        _arguments -s $globals \
          '--release=[only the release of this minute]:time: ' \
          '--limit=[at most N records]:number: ' \
          '1::workflow:_wf_workflows' && ret=0
        ;;
      completion)
        _arguments -s $globals '1:shell:(bash zsh fish)' && ret=0
        ;;
      version)
        _arguments -s $globals && ret=0
        ;;
    esac
  fi
  return ret
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _wf "$@"
else
  compdef _wf wf
fi
)WFSCRIPT";

// completions/wf.fish
const char* const kFish = R"WFSCRIPT(# fish completion for wf, the workflow runner.
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
)WFSCRIPT";

void print_unique(const std::vector<std::string>& values) {
  std::vector<std::string> seen;
  for (const auto& v : values) {
    if (v.empty() || std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
    seen.push_back(v);
    std::printf("%s\n", v.c_str());
  }
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::vector<std::string> job_names(const Workflow& w) {
  std::vector<std::string> out;
  for (const auto& j : w.jobs) out.push_back(j.name);
  return out;
}

// The state file, opened only when it exists.
std::unique_ptr<RunStore> existing_store(const Globals& g) {
  std::string dir = state_dir(g);
  if (!is_file(dir + "/wf.db")) return nullptr;
  auto store = RunStore::open(dir);
  if (!store.ok()) return nullptr;
  return std::move(*store);
}

void complete_workflows(const Globals& g, const std::vector<std::string>& args) {
  DiagnosticList diags;
  if (!args.empty() && is_file(args[0])) {
    WorkflowFile f = load_workflow_file(args[0], diags);
    std::vector<std::string> names;
    for (const auto& w : f.workflows) names.push_back(w.name);
    print_unique(names);
    return;
  }
  if (!args.empty()) return;
  print_unique(Catalog::load(config_dirs(g.conf, g.env), diags).names());
}

void complete_jobs(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty() || args[0].empty()) return;
  const std::string& target = args[0];
  DiagnosticList diags;
  if (is_file(target)) {
    WorkflowFile f = load_workflow_file(target, diags);
    std::vector<std::string> names;
    for (const auto& w : f.workflows)
      for (auto& n : job_names(w)) names.push_back(n);
    print_unique(names);
    return;
  }
  Catalog catalog = Catalog::load(config_dirs(g.conf, g.env), diags);
  if (const Workflow* w = catalog.find(target)) {
    print_unique(job_names(*w));
    return;
  }
  auto store = existing_store(g);
  if (!store) return;
  auto run = store->find_run(target);
  if (!run.ok()) return;
  WorkflowFile f = load_workflow_text(run->file_path, run->spec_text, diags);
  for (const auto& w : f.workflows)
    if (w.name == run->workflow) print_unique(job_names(w));
}

void complete_runs(const Globals& g) {
  auto store = existing_store(g);
  if (!store) return;
  RunFilter filter;
  filter.limit = 0;
  auto runs = store->list_runs(filter);
  if (!runs.ok()) return;
  std::vector<std::string> ids;
  for (const auto& r : *runs) ids.push_back(r.id);
  print_unique(ids);
}

struct CompleteArgs {
  std::string kind;
  std::vector<std::string> args;
};

int complete_command(const Globals& g, const CompleteArgs& a) {
  try {
    if (a.kind == "workflows") complete_workflows(g, a.args);
    else if (a.kind == "jobs") complete_jobs(g, a.args);
    else if (a.kind == "runs") complete_runs(g);
  } catch (...) {
    // Nothing on errors: completion must stay silent.
  }
  std::fflush(stdout);
  return kOk;
}

}  // namespace

Command add_completion(CLI::App& app, Globals&) {
  auto shell = std::make_shared<std::string>();
  Command c;
  c.app = app.add_subcommand("completion", "Print the completion script of a shell (bash, zsh or fish)");
  c.app->add_option("shell", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}))
      ->type_name("SHELL");
  c.run = [shell] {
    const char* text = *shell == "bash" ? kBash : *shell == "zsh" ? kZsh : kFish;
    std::fputs(text, stdout);
    return kOk;
  };
  return c;
}

Command add_complete_helper(CLI::App& app, Globals& g) {
  auto a = std::make_shared<CompleteArgs>();
  Command c;
  c.app = app.add_subcommand("__complete", "Values for the shell completion scripts");
  c.app->group("");
  c.app->add_option("kind", a->kind, "workflows, jobs or runs")->type_name("KIND");
  c.app->add_option("args", a->args, "A workflow file, workflow name or run id")->type_name("FILE");
  c.run = [a, &g] { return complete_command(g, *a); };
  return c;
}

}  // namespace wf::cli
