"""What the image holds: parity with the lock and the host (SR40x), integrity, layer
contents (SR220/SR221), declared facts (SR230) and what it ships (the SBOM's data)."""
