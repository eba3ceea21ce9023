"""Measuring the service level: what Prometheus scrapes and probes (``config``), the
journeys only medsys can walk (``journeys``, served by ``prober``), and the report that
turns the samples and the monitors' failure registers into the SLA table (``report``,
``cli``)."""
