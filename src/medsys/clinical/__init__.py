"""Clinical service (App1): consultations, diagnoses, treatments, doctor availability."""
