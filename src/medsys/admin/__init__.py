"""Admin service (App2): patients, insurance, billing and payments."""
