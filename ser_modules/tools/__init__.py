"""User tools: export / push to the Hugging Face Hub (publish) and the ser-predict command."""
