#!/usr/bin/env bash
# Generate the IVR prompts with a speech synthesiser:
#   asterisk-conf/sounds/<lang>/sanscode/<name>.wav   (lang: fr, en)
# Format expected by Asterisk's format_wav: 8000 Hz, mono, 16-bit signed PCM.
#
# These synthetic prompts are committed; run this script again only after
# changing a text below. To use studio recordings instead, replace the files
# with recordings of the same names in the same format (see asterisk-conf/README.md).
#
#   scripts/make-prompts.sh          # (re)generate all prompts
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$REPO/asterisk-conf/sounds"

# espeak-ng speaks, sox converts. Installed on the host if missing.
"$REPO/scripts/host-packages.sh" espeak-ng sox

# name|French text|English text
PROMPTS=(
  "calls-remaining-one|Il vous reste un appel pour finaliser votre achat.|One more call is needed to complete your purchase."
  "calls-remaining-prefix|Il vous reste|You still need"
  "calls-remaining-suffix|appels pour finaliser votre achat.|more calls to complete your purchase."
  "please-hold|Restez en ligne quelques secondes pour valider cet appel.|Please stay on the line for a few seconds to validate this call."
  "call-counted|Cet appel est validé. Merci, à bientôt.|This call is validated. Thank you, goodbye."
  "purchase-confirmed|Votre achat est confirmé. Merci, à bientôt.|Your purchase is confirmed. Thank you, goodbye."
  "no-pending-purchase|Aucun achat en attente pour votre numéro. Cet appel ne vous est pas facturé.|There is no pending purchase for your phone number. This call is not charged."
  "caller-id-withheld|Veuillez ne pas masquer votre numéro, puis rappelez. Cet appel ne vous est pas facturé.|Please do not withhold your number, then call again. This call is not charged."
  "purchase-expired|Votre achat a expiré. Recommencez sur le site. Cet appel ne vous est pas facturé.|Your purchase has expired. Please start again on the website. This call is not charged."
  "unknown-number|Ce numéro n'est pas en service. Cet appel ne vous est pas facturé.|This number is not in service. This call is not charged."
  "call-in-progress|Un autre appel est déjà en cours pour cet achat. Cet appel ne vous est pas facturé.|Another call for this purchase is already in progress. This call is not charged."
  "number-not-lent|Ce numéro n'est attribué à aucun achat en ce moment. Cet appel ne vous est pas facturé.|This number is not assigned to any purchase right now. This call is not charged."
  "code-intro|Votre code d'accès est :|Your access code is:"
  "code-again|Je répète :|I repeat:"
  "code-repeat-star|Pour réécouter votre code, appuyez sur étoile.|To hear your code again, press star."
  "code-goodbye|Notez bien votre code. Merci, à bientôt.|Please write down your code. Thank you, goodbye."
  "time-remaining|Temps restant :|Time remaining:"
  "minute|minute|minute"
  "minutes|minutes|minutes"
  "second|seconde|second"
  "seconds|secondes|seconds"
  "seconds-confirmed|Achat confirmé, merci.|Purchase confirmed, thank you."
  "service-unavailable|Service momentanément indisponible. Cet appel ne vous est pas facturé. Veuillez rappeler plus tard.|Service temporarily unavailable. This call is not charged. Please call again later."
  "identity-purchase-generic|Cet appel paie un achat fait sur un site web avec votre numéro.|This call pays for a purchase made on a website with your phone number."
  "identity-purchase-made-on|Cet appel paie un achat fait sur|This call pays for a purchase made on"
  "identity-purchase-for|pour|for"
  "identity-hang-up-if-not-yours|Si vous n'avez pas fait cet achat, raccrochez maintenant : cet appel ne vous sera pas facturé.|If you did not make this purchase, hang up now: you will not be charged."
)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for entry in "${PROMPTS[@]}"; do
  IFS='|' read -r name fr en <<<"$entry"
  for lang in fr en; do
    if [ "$lang" = fr ]; then text="$fr"; else text="$en"; fi
    mkdir -p "$OUT/$lang/sanscode"
    # -s 150: a little slower than the default for telephone listening.
    espeak-ng -v "$lang" -s 150 -w "$tmp/raw.wav" "$text"
    # 8 kHz mono 16-bit signed PCM; -D: no dither, so output is reproducible;
    # silence/reverse: trim leading and trailing silence, then pad 0.1 s / 0.2 s
    # so consecutive prompts do not run together; norm -3: same loudness for all.
    sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$OUT/$lang/sanscode/$name.wav" \
      silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.1 0.2 norm -3
  done
done

echo "make-prompts: $(ls "$OUT"/*/sanscode/*.wav | wc -l) files in $OUT"
