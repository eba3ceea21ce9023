# The one image of medsys's Python services: clinical, admin, middleware, portal, the
# failover monitors and the medsys-setup job. docker-compose.yml gives each its command.

FROM python:3.11.11-slim-bookworm AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/medsys/bin:$PATH \
    MEDSYS_STATE_DIR=/var/lib/medsys \
    MEDSYS_NETWORK=compose
# uid/gid 999: the database images' server users have them too, so every container can
# read and write the shared cluster-state volume without running as root.
RUN groupadd --system --gid 999 medsys \
    && useradd --system --uid 999 --gid 999 --home-dir /var/lib/medsys --shell /usr/sbin/nologin medsys \
    && install -d -o medsys -g medsys /var/lib/medsys /var/lib/medsys/cluster /var/lib/medsys/log \
    && install -d -m 0700 -o medsys -g medsys /var/lib/medsys/mail
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/medsys \
    && /opt/medsys/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock
COPY --from=wheel /wheels /wheels
RUN /opt/medsys/bin/pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
USER 999:999
WORKDIR /var/lib/medsys
CMD ["medsys", "--help"]
