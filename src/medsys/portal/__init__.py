"""Patient portal (App3): the patient's own history, payments and appointments."""
