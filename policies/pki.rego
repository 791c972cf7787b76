# Credentials across the fleet: one key per host, one trust root.
package soc2.pki

# METADATA
# title: No two hosts share a certificate key
# description: >-
#   The SHA-256 of every certificate's public key (the PKI verifier's facts) is unique to one host:
#   a key copied to a second host would let either impersonate the other under mTLS.
# custom:
#   id: POL-02
#   severity: critical
#   tsc:
#     primary: [CC6.1]
#     secondary: [CC6.7]
pol_02 := {"items": {h | key_hosts[h]}, "violations": shared_keys}

# host -> the public key hashes of its certificates.
key_hosts[host] := keys if {
	some host
	certificates := input.hosts[host].facts.pki.certificates
	keys := {cert.public_key_sha256 | some cert in certificates; is_string(cert.public_key_sha256)}
}

# key -> the hosts that have it (grouped once: no host-by-host comparison).
key_owners[key] contains host if {
	some host, keys in key_hosts
	some key in keys
}

shared_keys contains {"item": host, "reason": reason} if {
	some key, owners in key_owners
	count(owners) > 1
	some host in owners
	others := sort([other | some other in owners; other != host])
	reason := concat("", ["certificate key ", substring(key, 0, 16), " also on ", concat(", ", others)])
}

# METADATA
# title: Every host trusts the same certificate authority
# description: >-
#   Every host's certificates were issued by one CA (the issuer of each certificate in the PKI
#   verifier's facts): a host with a certificate from another issuer is outside the fleet's trust.
# custom:
#   id: POL-12
#   severity: high
#   tsc:
#     primary: [CC6.1]
pol_12 := {"items": {h | issuers[h]}, "violations": foreign_issuers}

issuers[host] := names if {
	some host
	certificates := input.hosts[host].facts.pki.certificates
	names := {cert.issuer | some cert in certificates; is_string(cert.issuer)}
}

# issuer -> the hosts with a certificate from it, and how many.
issuer_hosts[name] contains host if {
	some host, names in issuers
	some name in names
}

issuer_tally[name] := count(hosts) if some name, hosts in issuer_hosts

# The issuer most hosts use (ties: the first in sort order): the fleet's CA.
fleet_issuer := min({candidate | some candidate in object.keys(issuer_tally); issuer_tally[candidate] == top_tally})

top_tally := max([n | some n in issuer_tally])

foreign_issuers contains {"item": host, "reason": reason} if {
	some host, names in issuers
	some name in names
	name != fleet_issuer
	reason := sprintf("certificate issued by %s, the fleet's CA is %s", [name, fleet_issuer])
}
