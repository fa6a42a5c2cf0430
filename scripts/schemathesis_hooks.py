"""schemathesis hooks for scripts/fuzz-api.sh: POST /v1/reports/verify takes a PDF
(application/pdf), which schemathesis has no serializer for; it is bytes, sent as they are, as
application/octet-stream bodies are."""
import schemathesis

schemathesis.serializer.alias("application/pdf", "application/octet-stream")
