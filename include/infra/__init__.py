"""Local infrastructure: the Kafka broker, jars and Airflow home the project starts itself."""
