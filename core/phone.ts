// Phone numbers are compared in E.164 only. Buyers type them in every national shape and
// carriers send caller IDs with or without the country code, so all of them go through
// libphonenumber-js here and nowhere else.
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/** Caller IDs that mean "no number": withheld presentation or a trunk that sent nothing. */
const WITHHELD = new Set(['', 'anonymous', 'unknown', 'unavailable', 'private', 'restricted', 'withheld']);

/**
 * Normalise a phone number to E.164, or null when it is not a valid number.
 * `0612345678`, `06 12 34 56 78`, `+33612345678`, `0033612345678` and `33612345678`
 * (country code without "+", as some trunks send it) are the same number.
 */
export function toE164(input: string, defaultRegion: string): string | null {
  const raw = input.trim();
  if (raw === '' || raw.length > 32) return null;
  const region = defaultRegion.toUpperCase() as CountryCode;
  const asGiven = parsePhoneNumberFromString(raw, region);
  if (asGiven?.isValid()) return asGiven.number;
  // Digits only and not valid nationally: try them as an international number
  // ("33612345678" is +33 6 12 34 56 78, not a French national number).
  if (/^\d{8,15}$/.test(raw)) {
    const international = parsePhoneNumberFromString(`+${raw}`);
    if (international?.isValid()) return international.number;
  }
  return null;
}

/**
 * The caller's number as Asterisk reports it, or null when it is withheld or unusable.
 * A caller we cannot identify cannot be credited, so the IVR must not answer them.
 */
export function callerToE164(callerNumber: string | undefined | null, defaultRegion: string): string | null {
  const raw = (callerNumber ?? '').trim();
  if (WITHHELD.has(raw.toLowerCase())) return null;
  return toE164(raw, defaultRegion);
}
