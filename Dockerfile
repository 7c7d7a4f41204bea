FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY monitor ./monitor
COPY migrations ./migrations
# A plain (not editable) install: the migrations travel inside the package.
RUN pip install --no-cache-dir . && rm -rf /app/monitor /app/migrations /app/build
COPY config ./config
# Run as a user without privileges; its home holds the SQLite archive when no Postgres URL is given.
RUN useradd --system --create-home --home-dir /var/lib/news-monitor --shell /usr/sbin/nologin monitor
USER monitor
WORKDIR /var/lib/news-monitor
ENV MONITOR_CONFIG=/app/config/feeds.yaml \
    MONITOR_DATABASE_URL=sqlite:////var/lib/news-monitor/monitor.db
ENTRYPOINT ["monitor"]
CMD ["run"]
