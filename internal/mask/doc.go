// Package mask finds sensitive values in query results and masks them. It is
// pure: no I/O, no logging, no dependencies beyond the standard library.
//
// # Profiles and the Masker
//
// A Profile is one named entry under masking: in the config. Validate checks
// one; Compile combines the profiles a policy lists (masking: [pii, pci])
// into one immutable *Masker, shared by every session under that policy and
// safe for concurrent use. Errors are *FieldError values that name the field
// as the user wrote it ("masking.pii.columns[1].with: unknown transform
// \"blur\" ...").
//
// A Masker has two kinds of rules:
//
//   - Column rules, by name pattern: "ssn", "customers.ssn",
//     "public.customers.ssn", where each part is a name or a glob with '*'
//     ("*.email", "*.card_*"), ASCII case ignored. The caller resolves each
//     result column once with Column, keeps the ColumnMatch, and passes each
//     value of that column to Value, which transforms the whole value. The
//     first matching rule wins, in profile order then rule order. A column
//     with a rule is not also scanned by detectors.
//   - Detectors, run by Text on every other text value (plain text, JSON,
//     CSV, ...), masking every match inside the value.
//
// # Detectors
//
// All built-in detectors are ASCII, and a match never starts or ends inside
// a word: a letter or digit right before or after a match rules it out.
//
//   - credit_card: 13 to 19 digits, in one run or in groups of 3 to 6 digits
//     joined by single spaces or single dashes (one kind per number), with a
//     card network's prefix for that length (Visa 4, Mastercard 51-55 and
//     2221-2720, Amex 34 and 37, Diners and JCB 30 and 35-39, Mir 2200-2204,
//     and 5 and 6 for Discover, UnionPay, Maestro and others) and a valid
//     Luhn check digit. The prefix rule keeps 13-digit millisecond
//     timestamps, one in ten of which passes Luhn, from being masked. A longer ungrouped run never matches; in a run
//     of groups the longest Luhn-valid prefix of 13 to 19 digits does, so
//     "4242 4242 4242 4242 12/27" masks the card and keeps the expiry.
//   - email: local@domain.tld with a local part of [A-Za-z0-9._%+-] (leading
//     dots dropped) and a domain of at least two labels of [A-Za-z0-9-]
//     whose last is two or more letters. "user@localhost" is not matched.
//   - phone: "+" and 8 to 15 digits in groups separated by single spaces,
//     dashes or dots, with at most one group in parentheses
//     ("+14155552671", "+44 20 7946 0958", "+1 (415) 555-2671"); and North
//     American numbers "(415) 555-2671", "415-555-2671", "415.555.2671",
//     "415 555 2671", "1-800-555-0199", with area code and exchange starting
//     with 2 to 9 and one separator throughout. Bare digit runs
//     ("4155552671") are ids or timestamps as often as phones and are left
//     alone.
//   - us_ssn: "AAA-GG-SSSS" or "AAA GG SSSS" with area not 000, 666 or 9xx,
//     group not 00, serial not 0000, and not part of a longer number
//     ("123-45-67890", "1-123-45-6789").
//   - iban: two upper-case letters, two check digits and 11 to 30 upper-case
//     letters or digits, compact or in groups of four separated by spaces,
//     passing the ISO 13616 mod-97 check; for about 70 countries the length
//     must be the country's.
//   - ipv4: four octets 0 to 255 without leading zeros. A letter, digit or
//     dot before, or a letter, digit or dot and digit after, rules it out,
//     so "1.2.3.4.5", "10.0.0.1.2" and "v10.0.0.1" are versions, not
//     addresses; "10.0.0.1:5432" and "10.0.0.0/8" mask the address.
//   - jwt: header.payload.signature in base64url where the header decodes to
//     a JSON object (it starts with "eyJ"); the signature may be empty. The
//     whole token is the match.
//   - aws_key: an access key ID, AKIA, ASIA, ABIA, ACCA, AGPA, AIDA, AIPA,
//     ANPA, ANVA, APKA, AROA or ASCA and 16 characters of [A-Z2-7].
//   - private_key: a PEM block whose label contains "PRIVATE KEY" (RSA, EC,
//     DSA, OPENSSH, ENCRYPTED, plain PKCS#8, PGP), from BEGIN through the
//     matching END line; without an END line, to the end of the value.
//   - custom detectors: a Go regexp each, matched against the whole value.
//     A literal that every match must contain is found at Compile time and
//     checked first, so the regexp runs only on values that contain it.
//
// # Overlaps and context
//
// Matches never overlap. Of all detectors, the match that starts leftmost
// wins; at the same start the longest; at the same span the first detector
// in the order above, then custom detectors in order. Scanning resumes after
// the winning match, and a match that starts inside it is dropped. The
// bytes of a masked match do not count as context for what follows it, just
// as its replacement would not, and what stops a number from ending before
// a byte (a letter or digit, or '-' or '.' and a digit) also stops a number
// from starting after it; together these make redaction idempotent for the
// built-in detectors: masking masked output again changes nothing.
//
// # Transforms
//
// Each column rule and each detector has a transform (the rule's with, the
// custom detector's with, else the profile's with, else redact):
//
//   - redact: a detector match becomes "[REDACTED:name]" with the
//     detector's name ("[REDACTED:credit_card]", "[REDACTED:employee_id]");
//     a column value becomes "[REDACTED]".
//   - partial: letters, digits and non-ASCII characters become '*' except
//     the last four of them; ASCII punctuation and spaces stay, so formats
//     survive ("**** **** **** 4242", "***-**-6789", "(***) ***-2671"). A
//     value with fewer than eight such characters is masked entirely. An
//     email address keeps its first character and its domain:
//     "a***@example.com" (a column value too, when it is one address). A jwt
//     or private_key match is redacted instead: a few characters of a token
//     tell nobody anything.
//   - hash: "[HASH:" + 16 lower-case hex digits + "]", the first 8 bytes of
//     HMAC-SHA256(key, input) with the key given to Compile: equal inputs
//     give equal tokens in every session and process that shares the key,
//     so joins and group-bys still work. For credit_card, us_ssn and iban
//     the input is the letters and digits only, for phone the digits only
//     with a leading 1 added to a bare 10-digit North American number, for
//     email the address in ASCII lower case; so "4242 4242 4242 4242" and
//     "4242-4242-4242-4242", or "(415) 555-2671" and "+1 415 555 2671", give
//     one token. Other detectors and column values hash the bytes as they
//     are.
//   - null: the whole value becomes SQL NULL; Text and Value report it and
//     append nothing.
//
// Bytes outside matches are kept byte for byte; Text and Value never modify
// their input, never panic, and work on any bytes, valid UTF-8 or not.
//
// # Hot path
//
// Text does not run a regexp per detector. One pass visits the start of
// each word and tries only the detectors its first bytes allow (cards,
// SSNs, phones and addresses after a digit, '+' or '('; IBANs and AWS keys
// after an upper-case letter); emails, JWTs and PEM blocks are found from
// bytes.IndexByte for '@' and 'J' and bytes.Index for "-----BEGIN ". Work is
// linear in the value. With no match Text appends nothing and allocates
// nothing, and the caller sends the original bytes on. Masked output is
// appended to a buffer the caller owns; hashing uses pooled HMAC state. Only
// custom detectors allocate, and only when their regexp matches, because
// Go's regexp returns fresh slices.
//
// Hits counts matches per rule for the recording ("credit_card ×3,
// customers.ssn ×10") without keeping any value.
package mask
