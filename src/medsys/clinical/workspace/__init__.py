"""The clinical workspace: server-rendered Spanish pages for doctors and nurses (agenda,
patient search and chart, consultation, prescriptions and certificates). Every page calls
the same records layer and writes the same audit rows as the JSON API; there is no second
path to the data."""
