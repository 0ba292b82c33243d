"""Small HTTP servers on 127.0.0.1 that stand in for Kaggle and Hugging Face,
so the tests drive the real `kagglehub` and `huggingface_hub` clients
without leaving the machine."""
