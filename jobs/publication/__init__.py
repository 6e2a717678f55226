"""Publication to the Hugging Face Hub: where each artifact lands, and the card it carries."""
