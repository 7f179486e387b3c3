# Sourced by the compat scripts (compat-runtime-1.3.sh, compat-python-notebook.sh): install a pinned
# package set and fabgen-runtime (editable) into a compat venv, again only when the pins or the
# runtime's packaging changed. Needs `step` and `die` from the sourcing script.

source "$(dirname "${BASH_SOURCE[0]}")/pip-install.sh"

# install_compat_packages VENV_PYTHON DESCRIPTION REQUIREMENT...
install_compat_packages() {
    local py="$1" what="$2"
    shift 2
    local venv stamp want log
    venv="$(dirname "$(dirname "$py")")"
    stamp="$venv/.fabgen-compat"
    want="$({ printf '%s\n' "$@"; cat runtime/pyproject.toml; } | sha256sum | cut -c1-16)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        step "python packages up to date"
        return
    fi
    step "installing $what"
    log="$venv/pip-install.log"
    if ! venv_install "$py" "$log" "$@" -e runtime; then
        tail -n 40 "$log" >&2
        die "pip install failed (full log: $log)"
    fi
    echo "$want" >"$stamp"
}
