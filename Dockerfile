# pagerkit (the exporter, the relay) and the example workload, small and non-root.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter/ exporter/
RUN pip install . && useradd --system --uid 10001 pagerkit
COPY examples/ examples/
COPY playbooks/ playbooks/
COPY alertmanager/routing.yaml alertmanager/routing.yaml
COPY scripts/demo_phone.py scripts/demo_phone.py
USER pagerkit
EXPOSE 9630
ENTRYPOINT ["pagerkit"]
CMD ["serve", "--config", "/etc/pagerkit/pagerkit.yaml"]
