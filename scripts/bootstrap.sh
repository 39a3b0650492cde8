# Sourced by scripts/test and scripts/demo: install what a fresh Debian or Ubuntu lacks, into ./.venv.
# Debian 12 has no `python` (only `python3`), ships venv separately (python3-venv), and its pip
# refuses to install outside a virtual environment; so everything Python goes into ./.venv.
# Works as root (CI) or as a user with sudo; never reads stdin.

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
else
    sudo=(sudo -n)  # -n: fail rather than wait for a password nobody will type
fi
apt_updated=""

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$apt_updated" ]; then
        "${sudo[@]}" apt-get update -qq </dev/null
        apt_updated=1
    fi
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

# ensure_venv EXTRAS: ./.venv with this project installed (editable) with the given extras.
ensure_venv() {
    if [ ! -x .venv/bin/python ]; then
        if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
            echo "$0: installing python3-venv" >&2
            apt_install python3-venv
        fi
        python3 -m venv .venv
    fi
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${1:+[$1]}" </dev/null
}
