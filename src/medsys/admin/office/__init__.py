"""The front office: server-rendered Spanish pages for clerks and accountants, under
``/oficina/`` on every admin instance (through nginx :3002). They call the same records
layer and write the same audit rows as the JSON API."""
