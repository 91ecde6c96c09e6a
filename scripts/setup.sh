#!/usr/bin/env bash
# Set up everything linerec needs on a Debian/Ubuntu machine with Python 3.11:
# system packages (apt, only those missing), the virtualenv with pinned packages,
# the Horovod build (cached), and linerec itself. Safe to run again: finished steps are skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "[setup] $*"; }
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

# ---------------------------------------------------------------- system packages
APT_PACKAGES=(cmake g++ make libhighwayhash-dev libfarmhash-dev ghostscript tesseract-ocr tesseract-ocr-eng fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-freefont-ttf fonts-croscore fonts-crosextra-carlito fonts-crosextra-caladea fonts-open-sans fonts-roboto-unhinted fonts-lato fonts-go fonts-inconsolata fonts-urw-base35 fonts-noto-mono fonts-cmu fonts-lmodern fonts-texgyre fonts-linuxlibertine fonts-ebgaramond fonts-ebgaramond-extra fonts-adf-accanthis fonts-adf-baskervald fonts-adf-berenis fonts-adf-gillius fonts-adf-ikarius fonts-adf-irianis fonts-adf-libris fonts-adf-mekanus fonts-adf-oldania fonts-adf-romande fonts-adf-solothurn fonts-adf-switzera fonts-adf-tribun fonts-adf-universalis fonts-adf-verana fonts-cardo fonts-vollkorn fonts-sil-gentium fonts-sil-gentium-basic fonts-sil-gentiumplus fonts-sil-charis fonts-sil-doulos fonts-sil-andika fonts-sil-andikanewbasic fonts-stix fonts-oldstandard fonts-fanwood fonts-goudybookletter fonts-lindenhill fonts-century-catalogue fonts-quattrocento fonts-junicode fonts-elstob fonts-levien-museum fonts-yrsa-rasa fonts-roboto-slab fonts-noto-core fonts-noto-extra fonts-paratype fonts-arkpandora fonts-liberation2 fonts-dustin fonts-georgewilliams fonts-tiresias fonts-oxygen fonts-sil-galatia fonts-mph-2b-damase fonts-gfs-neohellenic fonts-linex fonts-prociono fonts-junction fonts-karla fonts-karmilla fonts-cabin fonts-cantarell fonts-clear-sans fonts-comic-neue fonts-b612 fonts-inter fonts-manrope fonts-sora fonts-play fonts-dosis fonts-quicksand fonts-opendin fonts-beteckna fonts-allerta fonts-tuffy fonts-jura fonts-league-spartan fonts-averia-gwf fonts-averia-sans-gwf fonts-averia-serif-gwf fonts-arapey fonts-osifont fonts-routed-gothic fonts-roadgeek fonts-national-park fonts-yanone-kaffeesatz fonts-courier-prime fonts-gnutypewriter fonts-hack fonts-jetbrains-mono fonts-firacode fonts-fantasque-sans fonts-anonymous-pro fonts-hermit fonts-agave fonts-league-mono fonts-mononoki fonts-monoid fonts-monofur fonts-3270 fonts-glasstty fonts-ocr-a fonts-ocr-b fonts-pc fonts-pc-extra fonts-unifont fonts-ricty-diminished fonts-freefont-otf fonts-opendyslexic fonts-sil-charis-compact fonts-eurofurence fonts-compagnon fonts-solide-mirage fonts-comfortaa chromium docker-compose openssh-server redis-server)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
    say "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
    say "system packages present"
fi

# ---------------------------------------------------------------- virtualenv
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "[setup] ERROR: Python 3.11 is required (found $("$PYTHON" --version))" >&2; exit 1; }
if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV" || {
        echo "[setup] ERROR: python venv failed; on Debian/Ubuntu: apt-get install python3.11-venv" >&2; exit 1; }
fi
stamp="$VENV/.linerec-$(cat requirements.txt requirements.lock | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
    say "installing pinned packages (requirements.txt, constrained by requirements.lock; ~1-3 min)"
    "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
    "$VENV/bin/pip" install -q -r requirements.txt -c requirements.lock
    touch "$stamp"
else
    say "pinned packages present"
fi

# ---------------------------------------------------------------- Horovod (built once, wheel cached)
scripts/build_horovod.sh "$VENV/bin/python"

# ---------------------------------------------------------------- linerec itself
# Re-installed when pyproject.toml changes: its entry points (the pipeline's commands) live in the metadata.
project_stamp="$VENV/.linerec-project-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$project_stamp" ]] || ! "$VENV/bin/python" -c 'import linerec.cli, tasks' 2>/dev/null \
        || [[ ! -x "$VENV/bin/linerec" ]]; then
    say "installing linerec (editable)"
    "$VENV/bin/pip" install -q --no-deps -e .
    rm -f "$VENV"/.linerec-project-*
    touch "$project_stamp"
fi
say "ready: $VENV"
