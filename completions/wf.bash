# bash completion for wf, the workflow runner                    -*- shell-script -*-
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
