FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir -e .
ENV MONITOR_CONFIG=/app/config/feeds.yaml
ENTRYPOINT ["monitor"]
CMD ["run"]
