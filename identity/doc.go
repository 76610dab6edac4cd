// Package identity verifies the JWTs that calling services forward for their
// end users and workloads, and yields the verified claims as an Identity.
//
// A Verifier trusts a fixed list of issuers. Each Issuer names the exact
// "iss" value it signs with, where its JSON Web Key Set lives (a file or an
// http(s) URL), the audience its tokens must carry and the SpiceDB object
// type of its subjects. Verify selects the issuer by the token's "iss" claim
// and checks the signature with that issuer's keys only, then the audience,
// the validity window and the subject.
//
// Only compact JWS tokens signed with RS256/384/512, PS256/384/512,
// ES256/384/512 or EdDSA are accepted; "none", HMAC and encrypted tokens are
// refused. Key sets are loaded once by NewVerifier and kept fresh in the
// background: URL key sets are fetched again every refresh interval, file key
// sets are read again when the file changes, and a token naming an unknown
// key ID triggers an early refresh at most once every ten seconds per issuer.
// A failed refresh keeps the last good keys.
//
// Every refusal is an *Error whose Reason says what was wrong and whose
// message is safe to return to the client.
package identity
