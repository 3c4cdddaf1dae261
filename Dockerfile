# Stageline image for the production topology in docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip install --no-cache-dir -e . && useradd --create-home stageline
USER stageline
ENV STAGELINE_DATA_DIR=/home/stageline/data
EXPOSE 8080
CMD ["stageline", "serve", "--host", "0.0.0.0", "--port", "8080"]
