# riskwatch worker image, used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY riskwatch ./riskwatch
COPY streams ./streams
COPY detectors ./detectors
COPY policies ./policies
COPY audit ./audit
COPY riskwatch.yaml ./
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["riskwatch"]
CMD ["worker"]
