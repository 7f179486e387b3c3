# Sourced by setup.sh and compat-venv.sh: install packages into a venv with uv (from PyPI, into the
# venv itself; a fresh .venv installs in about a minute instead of pip's two and a half), falling
# back to pip when uv cannot be had.

# venv_install VENV_PYTHON LOG ARG...   (ARGs as for `pip install`)
venv_install() {
    local py="$1" log="$2"
    shift 2
    local uv
    uv="$(dirname "$py")/uv"
    {
        if [[ -x "$uv" ]] || "$py" -m pip install --disable-pip-version-check --quiet uv; then
            "$uv" pip install --python "$py" "$@"
        else
            echo "uv unavailable: installing with pip"
            "$py" -m pip install --disable-pip-version-check --upgrade pip \
                && "$py" -m pip install --disable-pip-version-check "$@"
        fi
    } >"$log" 2>&1
}
